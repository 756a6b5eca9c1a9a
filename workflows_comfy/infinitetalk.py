"""InfiniteTalk on ComfyUI's core nodes: one 81-frame window per prompt. Pure.

The graph of Comfy-Org's ``video_wan2_1_infinitetalk`` template (its "InfiniteTalk (Base
Generation)" subgraph), for one window::

    LoadAudio → TrimAudioDuration → AudioEncoderEncode ← AudioEncoderLoader (wav2vec2-chinese)
    UNETLoader (Wan 2.1 I2V 480p) → LoraLoaderModelOnly (LightX2V rank 64) ─┐
    ModelPatchLoader (InfiniteTalk) ─────────────────────────────────────────┤
    CLIPLoader → CLIPTextEncode → ConditioningZeroOut (negative) ────────────┤
    LoadImage (portrait, start_image) ───────────────────────────────────────┤
    window k > 0: LoadImage (window k-1's last 9 frames, previous_frames) ────┤
                                                       WanInfiniteTalkToVideo ┘
    → KSamplerSelect / BasicScheduler / CFGGuider / RandomNoise → SamplerCustomAdvanced
    → VAEDecode → CreateVideo (25 fps, the window's stretch of audio) → SaveVideo
      VAEDecode → ImageFromBatch (last 9) → SaveImage (9 PNGs)   when a window follows

How frames hand over: the window's MP4 is H.264, and decoding it does not give back the
frames the window decoded; re-encoding the motion frames once per window compounds into
the long-video collapse DiffSynth-Studio PR #1126 fixed by handing them over uncompressed.
So a window with a successor also saves its last ``motion_frames`` decoded frames as PNGs
(``graph.save_handoff``), the GPU activity joins them into one multi-frame PNG, and the
next window's ``LoadImage`` reads them back as one batch, byte for byte (ComfyUI 0.33.0
``nodes.py``: every frame of a multi-frame image, 8-bit RGB over 255). A window whose
predecessor saved no such frames (rendered before they existed, or by an operator's bound
graph) still continues that window's MP4: ``LoadVideo → GetVideoComponents`` with all of
its frames as ``previous_frames``.

How windows chain (``WanInfiniteTalkToVideo.execute``, ``comfy_extras/nodes_wan.py`` at
Comfy-Org/ComfyUI ee54641d): with ``previous_frames`` it encodes their last
``motion_frame_count`` frames as the motion latent and reads the audio features from frame
``previous_frames.shape[0] - motion_frame_count`` to that plus ``length``; the decoded
window starts by re-rendering those motion frames (``trim_image``). The template chains its
second window on the first window's 81 frames over the whole audio. Here window ``k`` gets
window ``k-1``'s last 9 frames and the audio from its own first frame, so the feature
offset ``9 - 9 = 0`` lands exactly on window ``k``'s first frame (from an MP4, all 81
frames and the audio from window ``k-1``'s start: offset ``81 - 9 = 72``, the same frame);
a prompt never holds more than two windows.

One prompt per window (not per clip) because ``previous_frames`` must hold every frame the
feature offset counts: a single prompt chaining N windows keeps all their frames in
ComfyUI's cache (quadratic in N), cannot retry or report one window, and a 600 s clip (209
windows) outlasts any activity timeout.

Two speakers (planned, not built): ``mode`` ``two_speakers`` adds ``mode.audio_encoder_output_2``
and the two speaker masks ``mode.mask_1``/``mode.mask_2``; the manifest would need a second
audio track and a mask per speaker.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.frames.rules import INFINITETALK_MOTION_FRAMES, INFINITETALK_WINDOW_FRAMES
from workflows_comfy.graph import (
    ApiGraph,
    Graph,
    InputValue,
    check_sampling,
    check_size,
    resolve,
    save_handoff,
    save_video,
)
from workflows_comfy.presets import DEFAULT_PRESET, InfiniteTalkPreset, preset_of_type

INFINITETALK_FPS = 25.0
"""The template's ``CreateVideo`` fps; the node reads 25 fps audio features (50 Hz / 2)."""
WINDOW_FRAMES = INFINITETALK_WINDOW_FRAMES
MOTION_FRAMES = INFINITETALK_MOTION_FRAMES
MAX_MOTION_FRAMES = 33
"""``motion_frame_count``'s maximum in the node's schema."""


@dataclass(frozen=True)
class InfiniteTalkParams:
    """One InfiniteTalk window: ``length`` frames starting at frame ``start_frame``."""

    image_name: str
    """The portrait as ``ComfyClient.upload`` named it (every window's ``start_image``)."""
    audio_name: str
    """The whole driving audio (vocals, padded to the plan) as uploaded."""
    prompt: str
    width: int
    height: int
    seed: int
    start_frame: int = 0
    """The window's first frame in the clip (and in the audio)."""
    previous_video_name: str | None = None
    """The previous window's video as uploaded, when it saved no hand-off frames."""
    previous_frames_name: str | None = None
    """The previous window's last frames as uploaded (one multi-frame PNG, ``LoadImage``)."""
    previous_frames: int = WINDOW_FRAMES
    """Frames in the previous window's file (all of them become ``previous_frames``)."""
    length: int = WINDOW_FRAMES
    motion_frames: int = MOTION_FRAMES
    negative_prompt: str = ""
    fps: float = INFINITETALK_FPS
    steps: int | None = None
    """``None``: the preset's default."""
    cfg: float | None = None
    """``None``: the preset's default."""
    preset: str = DEFAULT_PRESET["infinitetalk"]
    filename_prefix: str = "video/infinitetalk"
    handoff_frames: int = 0
    """Last decoded frames also saved as PNGs for the next window (its ``motion_frames``)."""

    @property
    def continues(self) -> bool:
        """Whether the window continues a previous one (from its frames or its video)."""
        return self.previous_video_name is not None or self.previous_frames_name is not None

    @property
    def audio_start_frame(self) -> int:
        """Where the trimmed audio starts: ``previous_frames - motion_frames`` frames before
        the window (the node's feature offset), or the window's first frame."""
        if not self.continues:
            return self.start_frame
        return self.start_frame - (self.previous_frames - self.motion_frames)

    @property
    def audio_frames(self) -> int:
        """Frames of audio the window needs, from ``audio_start_frame``."""
        return self.start_frame + self.length - self.audio_start_frame

    def check(self, steps: int, cfg: float) -> None:
        """Raise ``ValueError`` naming the first parameter ComfyUI would reject or misuse.

        ``steps`` and ``cfg`` are the resolved values (``params`` or the preset's).
        """
        for name, value in (("image_name", self.image_name), ("audio_name", self.audio_name)):
            if not value:
                raise ValueError(f"{name} must not be empty")
        check_size(self.width, self.height)
        if self.length < 5 or (self.length - 1) % 4:
            raise ValueError(f"length must be 4n+1 frames (e.g. 81), got {self.length}")
        if not 1 <= self.motion_frames <= min(MAX_MOTION_FRAMES, self.length - 1):
            raise ValueError(
                f"motion_frames must be in 1..{min(MAX_MOTION_FRAMES, self.length - 1)}, "
                f"got {self.motion_frames}"
            )
        if self.start_frame < 0:
            raise ValueError(f"start_frame must be >= 0, got {self.start_frame}")
        if self.previous_video_name is not None and self.previous_frames_name is not None:
            raise ValueError("give previous_frames_name or previous_video_name, not both")
        if not self.continues and self.start_frame:
            raise ValueError(
                f"a window starting at frame {self.start_frame} continues the previous "
                "window: previous_frames_name or previous_video_name is missing"
            )
        if not 0 <= self.handoff_frames <= self.length:
            raise ValueError(
                f"handoff_frames must be in 0..{self.length}, got {self.handoff_frames}"
            )
        if self.continues and not (
            self.motion_frames <= self.previous_frames and self.audio_start_frame >= 0
        ):
            raise ValueError(
                f"{self.previous_frames} previous frames cannot continue at frame "
                f"{self.start_frame} with {self.motion_frames} motion frames"
            )
        if not 1.0 <= self.fps <= 120.0:
            raise ValueError(f"fps must be in 1..120, got {self.fps}")
        if not 1 <= steps <= 10000:
            raise ValueError(f"steps must be in 1..10000, got {steps}")
        check_sampling(seed=self.seed, cfg=cfg, filename_prefix=self.filename_prefix)


def build_infinitetalk(params: InfiniteTalkParams) -> ApiGraph:
    """The API-format graph for ``params``; ``UnknownPreset`` or ``ValueError`` if invalid."""
    models = preset_of_type(params.preset, InfiniteTalkPreset, "infinitetalk")
    steps, cfg = resolve(params.steps, models.steps), resolve(params.cfg, models.cfg)
    params.check(steps, cfg)

    g = Graph()
    portrait = g.add("LoadImage", title="Portrait", image=params.image_name)
    audio = g.add("LoadAudio", title="Vocals", audio=params.audio_name)
    window_audio = g.add(
        "TrimAudioDuration",
        title="Window audio",
        audio=audio.out(),
        start_index=params.audio_start_frame / params.fps,
        duration=params.audio_frames / params.fps,
    )
    encoder = g.add("AudioEncoderLoader", audio_encoder_name=models.audio_encoder)
    features = g.add("AudioEncoderEncode", audio_encoder=encoder.out(), audio=window_audio.out())
    unet = g.add(
        "UNETLoader", title="Wan 2.1 I2V", unet_name=models.unet, weight_dtype=models.weight_dtype
    )
    model = g.add(
        "LoraLoaderModelOnly",
        model=unet.out(),
        lora_name=models.lora,
        strength_model=models.lora_strength,
    )
    patch = g.add("ModelPatchLoader", title="InfiniteTalk", name=models.model_patch)
    clip = g.add("CLIPLoader", clip_name=models.text_encoder, type="wan", device="default")
    vae = g.add("VAELoader", vae_name=models.vae)
    positive = g.add("CLIPTextEncode", title="Prompt", text=params.prompt, clip=clip.out())
    # The template feeds a zeroed prompt as the negative (cfg 1.0 never uses it); a
    # manifest's negative prompt is encoded instead when it gives one.
    negative = (
        g.add(
            "CLIPTextEncode", title="Negative prompt", text=params.negative_prompt, clip=clip.out()
        )
        if params.negative_prompt
        else g.add("ConditioningZeroOut", conditioning=positive.out())
    )
    continuation: dict[str, InputValue] = {}
    if params.previous_frames_name is not None:
        previous = g.add("LoadImage", title="Previous frames", image=params.previous_frames_name)
        continuation["previous_frames"] = previous.out(0)
    elif params.previous_video_name is not None:
        video_file = g.add("LoadVideo", title="Previous window", file=params.previous_video_name)
        frames = g.add("GetVideoComponents", video=video_file.out())
        continuation["previous_frames"] = frames.out(0)
    talk = g.add(
        "WanInfiniteTalkToVideo",
        title=f"Window from frame {params.start_frame}",
        mode="single_speaker",
        model=model.out(),
        model_patch=patch.out(),
        positive=positive.out(),
        negative=negative.out(),
        vae=vae.out(),
        width=params.width,
        height=params.height,
        length=params.length,
        audio_encoder_output_1=features.out(),
        motion_frame_count=params.motion_frames,
        audio_scale=models.audio_scale,
        start_image=portrait.out(),
        **continuation,
    )
    sampler = g.add("KSamplerSelect", sampler_name=models.sampler_name)
    sigmas = g.add(
        "BasicScheduler", model=talk.out(0), scheduler=models.scheduler, steps=steps, denoise=1.0
    )
    guider = g.add(
        "CFGGuider", model=talk.out(0), positive=talk.out(1), negative=talk.out(2), cfg=cfg
    )
    noise = g.add("RandomNoise", noise_seed=params.seed)
    sampled = g.add(
        "SamplerCustomAdvanced",
        noise=noise.out(),
        guider=guider.out(),
        sampler=sampler.out(),
        sigmas=sigmas.out(),
        latent_image=talk.out(3),
    )
    decoded = g.add("VAEDecode", samples=sampled.out(0), vae=vae.out())
    # The window's file plays its own stretch of the audio, as the template's video does.
    sound = g.add(
        "TrimAudioDuration",
        title="Window sound",
        audio=audio.out(),
        start_index=params.start_frame / params.fps,
        duration=params.length / params.fps,
    )
    video = g.add("CreateVideo", images=decoded.out(), fps=float(params.fps), audio=sound.out())
    save_video(g, video.out(), params.filename_prefix)
    if params.handoff_frames:
        save_handoff(
            g,
            decoded.out(),
            decoded=params.length,
            frames=params.handoff_frames,
            filename_prefix=params.filename_prefix,
        )
    return g.to_api()
