"""Wan 2.2 sound-to-video: Comfy-Org's ``video_wan2_2_14B_s2v`` graph, chunked. Pure.

::

    LoadAudio → AudioEncoderEncode ← AudioEncoderLoader          (wav2vec2, 50 Hz features)
    LoadImage (ref_image) ─┐
    chunk 1:  WanSoundImageToVideo(length) → KSampler → latent
    chunk k:  WanSoundImageToVideoExtend(length, video_latent=latent) → KSampler
              → LatentConcat(latent, sampled, "t") → latent
    → VAEDecode → CreateVideo(16 fps, the audio) → SaveVideo(mp4, h264)

The model chain is UNETLoader → LoraLoaderModelOnly (the preset's 4-step LightX2V LoRA, if
any) → ModelSamplingSD3(shift 8), as in the template; steps and cfg default to the preset's.

How the nodes chunk (ComfyUI ``comfy_extras/nodes_wan.py`` at a125cd8, the contract server,
``wan_sound_to_video``): a chunk of ``length`` frames is ``latent_t = (length - 1) // 4 + 1``
latent frames and takes ``batch_frames = latent_t * 4`` frames of audio features,
resampled to a fixed 16 fps, starting at ``frame_offset``. ``WanSoundImageToVideo`` starts at
0; ``WanSoundImageToVideoExtend`` sets ``frame_offset = video_latent.shape[-3] * 4`` and uses
the last 19 latent frames of ``video_latent`` as the motion reference. So ``video_latent``
must be every chunk so far, concatenated along time: that is what chains the audio.

The concatenation is decoded once; the Wan VAE turns ``n`` latent frames into
``(n - 1) * 4 + 1`` frames, so ``chunks`` chunks give ``chunks * batch_frames - 3``
(``pipeline.domain.frames.rules.s2v_total_frames`` plans the same). The template also doubles the
first latent frame before decoding and drops as many decoded frames as it has chunks, to
hide an overbaked first frame; that makes the count depend on the chunk count, so it is left
out here.

Long audio is split into segments of at most ``S2V_CHUNKS_PER_PROMPT`` chunks, one prompt
each (``pipeline.domain.frames.plan.plan_s2v``): one prompt of all of a 10-minute clip's 120
chunks was 373 nodes decoding 9,597 frames at once. A later segment continues the one before
as ComfyUI's own nodes allow across prompts (ComfyUI 0.33.0, ``comfy_extras/nodes_wan.py``)::

    LoadAudio → TrimAudioDuration (the segment's chunks' audio) → AudioEncoderEncode
    LoadImage (the previous segment's last 73 frames, as it saved them) ─┐
    chunk 1:  WanSoundImageToVideo(length, ref_motion=those frames) → KSampler → latent
    chunk k:  WanSoundImageToVideoExtend(video_latent=latent) … as above
    VAEEncode(those frames) → LatentConcat(motion, latent, "t") → VAEDecode
    → ImageFromBatch (drop the 73) → CreateVideo (the segment's stretch of the audio)
    → SaveVideo;  … → ImageFromBatch (last 73) → SaveImage   when a segment follows

- **Motion.** ``…Extend`` can only continue a ``video_latent`` in the same prompt: it takes
  ``frame_offset = video_latent.shape[-3] * 4`` (line 1014) and the latent itself as the
  motion (line 1016), so across prompts it would need every latent so far. The continuation
  the nodes offer across prompts is ``WanSoundImageToVideo.ref_motion`` (IMAGE, optional,
  line 969): ``wan_sound_to_video`` keeps its last 73 frames (lines 917-919; fewer are padded
  with grey, lines 923-926), VAE-encodes them and keeps the last 19 latents as
  ``reference_motion`` (lines 928-933), the very 19 latents ``…Extend`` would take from
  ``video_latent``, but encoded from the decoded frames. They come through the lossless
  hand-off (``graph.save_handoff``: the previous prompt's decoded frames as 8-bit PNGs, read
  back by ``LoadImage`` byte for byte), so no H.264 encode compounds over the segments.
- **Audio.** ``WanSoundImageToVideo`` always starts at ``frame_offset = 0`` (line 980) and
  reads ``batch_frames`` features per chunk from there (lines 893-909). So the segment hears
  the drive audio trimmed (``TrimAudioDuration``, ``comfy_extras/nodes_audio.py`` lines
  457-479) from its first chunk's place, ``first_chunk x 80`` frames = a whole 5 s per
  chunk at 16 fps (50 Hz and 30 fps features split there exactly), for its chunks' length;
  its ``…Extend`` chunks then count their offsets within it, as in one prompt. The encoder
  only ever sees one segment's audio, not the clip's.
- **Frames.** A prompt of its own latents alone would decode 3 frames short per segment
  (the Wan VAE's first latent makes one frame). The segment instead decodes its latents
  behind the motion frames re-encoded (``VAEEncode``, ``nodes.py`` lines 380-392, 73 frames
  → 19 latents; ``LatentConcat`` along ``t``, ``comfy_extras/nodes_latent.py`` line 136) and
  drops those 73 decoded frames (``ImageFromBatch``, ``comfy_extras/nodes_images.py`` lines
  297-304): each of its latents gives 4 frames with the causal decoder's context, so the
  segments add up to the one-prompt frame count and every chunk keeps its place in the audio
  (``rules.s2v_segment_frames``).

A graph of one segment holding every chunk (no ``first_chunk``, no hand-off) is exactly the
one-prompt graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.frames.rules import S2V_DECODE_LOSS, S2V_MOTION_FRAMES
from workflows_comfy.graph import (
    MAX_SEED,
    ApiGraph,
    Graph,
    InputValue,
    Link,
    check_sampling,
    check_size,
    resolve,
    save_handoff,
    save_video,
)
from workflows_comfy.presets import DEFAULT_PRESET, S2VPreset, preset_of_type

S2V_FPS = 16.0
"""``wan_sound_to_video`` aligns the audio to a hard-coded 16 fps timeline."""
DEFAULT_CHUNK_LENGTH = 77
"""``WanSoundImageToVideo.length``'s default in object_info (the Wan 2.2 S2V reference)."""


def s2v_output_frames(chunk_length: int, chunks: int, *, continues: bool = False) -> int:
    """Frames the S2V graph renders for ``chunks`` chunks of ``chunk_length`` frames; a
    segment that ``continues`` another decodes behind its motion frames: 3 more."""
    latents = ((chunk_length - 1) // 4 + 1) * chunks
    return (latents - 1) * 4 + 1 + (S2V_DECODE_LOSS if continues else 0)


@dataclass(frozen=True)
class S2VParams:
    """One S2V run: ``chunks`` chunks of ``chunk_length`` frames, driven by one audio file."""

    image_name: str
    """The reference image as ``ComfyClient.upload`` named it."""
    audio_name: str
    """The driving audio (already cropped and padded to the chunks) as uploaded."""
    prompt: str
    width: int
    height: int
    chunks: int
    seed: int
    chunk_length: int = DEFAULT_CHUNK_LENGTH
    negative_prompt: str = ""
    """Empty: the preset's (Wan's standard negative prompt, as in the template)."""
    fps: float = S2V_FPS
    steps: int | None = None
    """``None``: the preset's default (4 with the LightX2V LoRA, 20 without)."""
    cfg: float | None = None
    """``None``: the preset's default (1.0 with the LoRA, 6.0 without)."""
    preset: str = DEFAULT_PRESET["s2v"]
    filename_prefix: str = "video/wan_s2v"
    first_chunk: int = 0
    """The segment's first chunk in the plan: its audio starts ``first_chunk`` chunks in."""
    previous_frames_name: str | None = None
    """The previous segment's last ``S2V_MOTION_FRAMES`` frames as uploaded (one
    multi-frame PNG it saved); required once ``first_chunk`` > 0."""
    handoff_frames: int = 0
    """Last decoded frames also saved as PNGs for the next segment: 0 or
    ``S2V_MOTION_FRAMES``."""

    @property
    def continues(self) -> bool:
        return self.previous_frames_name is not None

    @property
    def segmented(self) -> bool:
        """Part of a plan of several segments: continues one or is continued."""
        return self.continues or self.handoff_frames > 0

    @property
    def output_frames(self) -> int:
        return s2v_output_frames(self.chunk_length, self.chunks, continues=self.continues)

    @property
    def chunk_frames(self) -> int:
        """Frames (of audio, at 16 fps) each chunk moves on: ``rules.s2v_chunk_frames``."""
        return ((self.chunk_length - 1) // 4 + 1) * 4

    @property
    def start_frame(self) -> int:
        """The segment's first frame in the clip (``rules.s2v_segment_frames``)."""
        return self.first_chunk * self.chunk_frames - (S2V_DECODE_LOSS if self.continues else 0)

    def check(self, steps: int, cfg: float) -> None:
        """Raise ``ValueError`` naming the first parameter ComfyUI would reject or misuse.

        ``steps`` and ``cfg`` are the resolved values (``params`` or the preset's).
        """
        for name, value in (("image_name", self.image_name), ("audio_name", self.audio_name)):
            if not value:
                raise ValueError(f"{name} must not be empty")
        check_size(self.width, self.height)
        if self.chunk_length < 1 or (self.chunk_length - 1) % 4:
            raise ValueError(f"chunk_length must be 4n+1 frames (e.g. 77), got {self.chunk_length}")
        if self.chunks < 1:
            raise ValueError(f"chunks must be >= 1, got {self.chunks}")
        if self.first_chunk < 0:
            raise ValueError(f"first_chunk must be >= 0, got {self.first_chunk}")
        if self.continues != (self.first_chunk > 0):
            raise ValueError(
                "a segment continues the previous one exactly when it starts after chunk 1: "
                f"first_chunk {self.first_chunk}, previous_frames_name "
                f"{self.previous_frames_name!r}"
            )
        if self.handoff_frames not in (0, S2V_MOTION_FRAMES):
            raise ValueError(
                f"handoff_frames must be 0 or {S2V_MOTION_FRAMES} (the next segment's "
                f"ref_motion), got {self.handoff_frames}"
            )
        if self.fps != S2V_FPS:
            raise ValueError(f"fps must be {S2V_FPS:g}: S2V aligns audio to 16 fps, got {self.fps}")
        if not 1 <= steps <= 10000:
            raise ValueError(f"steps must be in 1..10000, got {steps}")
        check_sampling(seed=self.seed, cfg=cfg, filename_prefix=self.filename_prefix)


def build_s2v(params: S2VParams) -> ApiGraph:
    """The API-format graph for ``params``; ``UnknownPreset`` or ``ValueError`` if invalid."""
    models = preset_of_type(params.preset, S2VPreset, "s2v")
    sampling = _Sampling(
        models, resolve(params.steps, models.steps), resolve(params.cfg, models.cfg)
    )
    params.check(sampling.steps, sampling.cfg)

    g = Graph()
    image = g.add("LoadImage", title="Reference image", image=params.image_name)
    audio = g.add("LoadAudio", title="Driving audio", audio=params.audio_name)
    encoder = g.add("AudioEncoderLoader", audio_encoder_name=models.audio_encoder)
    heard = audio.out()
    if params.segmented:  # only this segment's chunks' audio
        heard = g.add(
            "TrimAudioDuration",
            title="Segment audio",
            audio=audio.out(),
            start_index=params.first_chunk * params.chunk_frames / params.fps,
            duration=params.chunks * params.chunk_frames / params.fps,
        ).out()
    features = g.add("AudioEncoderEncode", audio_encoder=encoder.out(), audio=heard)
    clip = g.add("CLIPLoader", clip_name=models.text_encoder, type="wan", device="default")
    vae = g.add("VAELoader", vae_name=models.vae)
    model = _model(g, models)
    positive = g.add("CLIPTextEncode", title="Prompt", text=params.prompt, clip=clip.out())
    negative = g.add(
        "CLIPTextEncode",
        title="Negative prompt",
        text=params.negative_prompt or models.negative_prompt,
        clip=clip.out(),
    )
    shared: dict[str, InputValue] = {
        "positive": positive.out(),
        "negative": negative.out(),
        "vae": vae.out(),
        "length": params.chunk_length,
        "audio_encoder_output": features.out(),
        "ref_image": image.out(),
    }
    motion: Link | None = None
    if params.previous_frames_name is not None:
        previous = g.add("LoadImage", title="Previous frames", image=params.previous_frames_name)
        motion = previous.out(0)
    first = g.add(
        "WanSoundImageToVideo",
        title=f"Chunk {params.first_chunk + 1}",
        width=params.width,
        height=params.height,
        batch_size=1,
        **shared,
        **({"ref_motion": motion} if motion is not None else {}),
    )
    latent = _sample(g, params, sampling, model, first.out(0), first.out(1), first.out(2), 0)
    for chunk in range(1, params.chunks):
        extend = g.add(
            "WanSoundImageToVideoExtend",
            title=f"Chunk {params.first_chunk + chunk + 1}",
            video_latent=latent,
            **shared,
        )
        sampled = _sample(
            g, params, sampling, model, extend.out(0), extend.out(1), extend.out(2), chunk
        )
        latent = g.add("LatentConcat", samples1=latent, samples2=sampled, dim="t").out()
    if motion is None:
        frames = g.add("VAEDecode", samples=latent, vae=vae.out()).out()
    else:  # decoded behind the motion frames, which are then dropped
        context = g.add("VAEEncode", title="Motion latents", pixels=motion, vae=vae.out())
        behind = g.add("LatentConcat", samples1=context.out(), samples2=latent, dim="t")
        decoded = g.add("VAEDecode", samples=behind.out(), vae=vae.out())
        frames = g.add(
            "ImageFromBatch",
            title="Segment frames",
            image=decoded.out(),
            batch_index=S2V_MOTION_FRAMES,
            length=params.output_frames,
        ).out()
    sound = audio.out()
    if params.segmented:  # the segment's file plays its own stretch of the clip's audio
        sound = g.add(
            "TrimAudioDuration",
            title="Segment sound",
            audio=audio.out(),
            start_index=params.start_frame / params.fps,
            duration=params.output_frames / params.fps,
        ).out()
    video = g.add("CreateVideo", images=frames, fps=float(params.fps), audio=sound)
    save_video(g, video.out(), params.filename_prefix)
    if params.handoff_frames:
        save_handoff(
            g,
            frames,
            decoded=params.output_frames,
            frames=params.handoff_frames,
            filename_prefix=params.filename_prefix,
        )
    return g.to_api()


@dataclass(frozen=True)
class _Sampling:
    preset: S2VPreset
    steps: int
    cfg: float


def _model(g: Graph, models: S2VPreset) -> Link:
    """UNETLoader → optional LoRA → ModelSamplingSD3."""
    model = g.add(
        "UNETLoader", title="S2V model", unet_name=models.unet, weight_dtype=models.weight_dtype
    ).out()
    if models.lora is not None:
        model = g.add(
            "LoraLoaderModelOnly",
            model=model,
            lora_name=models.lora,
            strength_model=models.lora_strength,
        ).out()
    return g.add("ModelSamplingSD3", model=model, shift=models.shift).out()


def _sample(
    g: Graph,
    params: S2VParams,
    sampling: _Sampling,
    model: Link,
    positive: Link,
    negative: Link,
    latent: Link,
    chunk: int,
) -> Link:
    # Each chunk its own noise, still reproducible from the one seed; a segment's seed is
    # the session's plus its index, so chunk offsets past ``first_chunk`` never repeat one.
    return g.add(
        "KSampler",
        title=f"Sample chunk {params.first_chunk + chunk + 1}",
        model=model,
        seed=(params.seed + params.first_chunk + chunk) % (MAX_SEED + 1),
        steps=sampling.steps,
        cfg=sampling.cfg,
        sampler_name=sampling.preset.sampler_name,
        scheduler=sampling.preset.scheduler,
        positive=positive,
        negative=negative,
        latent_image=latent,
        denoise=1.0,
    ).out()
