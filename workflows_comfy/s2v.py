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
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows_comfy.graph import (
    MAX_SEED,
    ApiGraph,
    Graph,
    InputValue,
    Link,
    check_sampling,
    check_size,
    resolve,
    save_video,
)
from workflows_comfy.presets import DEFAULT_PRESET, S2VPreset, preset_of_type

S2V_FPS = 16.0
"""``wan_sound_to_video`` aligns the audio to a hard-coded 16 fps timeline."""
DEFAULT_CHUNK_LENGTH = 77
"""``WanSoundImageToVideo.length``'s default in object_info (the Wan 2.2 S2V reference)."""


def s2v_output_frames(chunk_length: int, chunks: int) -> int:
    """Frames the S2V graph renders for ``chunks`` chunks of ``chunk_length`` frames."""
    latents = ((chunk_length - 1) // 4 + 1) * chunks
    return (latents - 1) * 4 + 1


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

    @property
    def output_frames(self) -> int:
        return s2v_output_frames(self.chunk_length, self.chunks)

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
    features = g.add("AudioEncoderEncode", audio_encoder=encoder.out(), audio=audio.out())
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
    first = g.add(
        "WanSoundImageToVideo",
        title="Chunk 1",
        width=params.width,
        height=params.height,
        batch_size=1,
        **shared,
    )
    latent = _sample(g, params, sampling, model, first.out(0), first.out(1), first.out(2), 0)
    for chunk in range(1, params.chunks):
        extend = g.add(
            "WanSoundImageToVideoExtend", title=f"Chunk {chunk + 1}", video_latent=latent, **shared
        )
        sampled = _sample(
            g, params, sampling, model, extend.out(0), extend.out(1), extend.out(2), chunk
        )
        latent = g.add("LatentConcat", samples1=latent, samples2=sampled, dim="t").out()
    frames = g.add("VAEDecode", samples=latent, vae=vae.out())
    video = g.add("CreateVideo", images=frames.out(), fps=float(params.fps), audio=audio.out())
    save_video(g, video.out(), params.filename_prefix)
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
    # Each chunk its own noise, still reproducible from the one seed.
    return g.add(
        "KSampler",
        title=f"Sample chunk {chunk + 1}",
        model=model,
        seed=(params.seed + chunk) % (MAX_SEED + 1),
        steps=sampling.steps,
        cfg=sampling.cfg,
        sampler_name=sampling.preset.sampler_name,
        scheduler=sampling.preset.scheduler,
        positive=positive,
        negative=negative,
        latent_image=latent,
        denoise=1.0,
    ).out()
