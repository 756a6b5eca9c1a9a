"""Wan 2.2 image-to-video: the official two-stage (high-noise → low-noise) graph. Pure.

::

    LoadImage ─────────────────────────────┐
    CLIPLoader → CLIPTextEncode (prompt, negative) → WanImageToVideo ← VAELoader
    high: loader → LoRA → ModelSamplingSD3 → KSamplerAdvanced [0, boundary), leftover noise
    low:  loader → LoRA → ModelSamplingSD3 → KSamplerAdvanced [boundary, end), no new noise
    → VAEDecode → CreateVideo(fps) → SaveVideo(mp4, h264)
      VAEDecode → ImageFromBatch (last frame) → SaveImage (PNG)   with an extension to come

The segment the user gets is the H.264 MP4. An extension starts from the previous
segment's last frame, and an H.264 encode of it is not that frame: with ``handoff_frames``
the graph also saves the last decoded frame losslessly (``graph.save_handoff``), and the
extension's ``LoadImage`` reads exactly it (ComfyUI 0.33.0 ``nodes.py``), so the loss of
one encode per hand-off never compounds over the extensions.

Steps, cfg and shift default to the preset's (``workflows_comfy.presets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workflows_comfy.graph import (
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
from workflows_comfy.presets import DEFAULT_PRESET, I2VPreset, preset_of_type

MAX_STEPS = 10000
"""``KSamplerAdvanced.steps``' maximum in object_info."""


@dataclass(frozen=True)
class I2VParams:
    """One I2V segment. ``boundary_step`` defaults to half the steps."""

    image_name: str
    """The name ``LoadImage`` sees: what ``ComfyClient.upload`` returned."""
    prompt: str
    width: int
    height: int
    length: int
    """Frames; Wan needs 4n+1."""
    seed: int
    negative_prompt: str = ""
    """Empty: the preset's (Wan's standard negative prompt, as in the template)."""
    fps: float = 16.0
    steps: int | None = None
    """``None``: the preset's default."""
    cfg: float | None = None
    """``None``: the preset's default."""
    preset: str = DEFAULT_PRESET["i2v"]
    filename_prefix: str = "video/wan_i2v"
    boundary_step: int | None = None
    """The step where the high-noise expert hands over to the low-noise one."""
    handoff_frames: int = 0
    """Last decoded frames also saved as PNGs for the next segment (1: its start image)."""

    def boundary(self, steps: int) -> int:
        """The hand-over step for ``steps`` sampling steps."""
        return steps // 2 if self.boundary_step is None else self.boundary_step

    def check(self, steps: int, cfg: float) -> None:
        """Raise ``ValueError`` naming the first parameter ComfyUI would reject or misuse.

        ``steps`` and ``cfg`` are the resolved values (``params`` or the preset's).
        """
        if not self.image_name:
            raise ValueError("image_name must not be empty")
        check_size(self.width, self.height)
        if self.length < 1 or (self.length - 1) % 4:
            raise ValueError(f"length must be 4n+1 frames (1, 5, ..., 81), got {self.length}")
        if not 1.0 <= self.fps <= 120.0:
            raise ValueError(f"fps must be in 1..120, got {self.fps}")
        if not 0 <= self.handoff_frames <= self.length:
            raise ValueError(
                f"handoff_frames must be in 0..{self.length}, got {self.handoff_frames}"
            )
        if not 2 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be in 2..{MAX_STEPS} (one per expert at least)")
        if not 0 < self.boundary(steps) < steps:
            raise ValueError(
                f"boundary_step must be in 1..{steps - 1} so both experts sample, "
                f"got {self.boundary(steps)}"
            )
        check_sampling(seed=self.seed, cfg=cfg, filename_prefix=self.filename_prefix)


def build_i2v(params: I2VParams) -> ApiGraph:
    """The API-format graph for ``params``; ``UnknownPreset`` or ``ValueError`` if invalid."""
    models = preset_of_type(params.preset, I2VPreset, "i2v")
    steps, cfg = resolve(params.steps, models.steps), resolve(params.cfg, models.cfg)
    params.check(steps, cfg)
    boundary = params.boundary(steps)

    g = Graph()
    image = g.add("LoadImage", title="Start image", image=params.image_name)
    clip = g.add(
        "CLIPLoader",
        clip_name=models.text_encoder,
        type=models.text_encoder_type,
        device="default",
    )
    vae = g.add("VAELoader", vae_name=models.vae)
    high = _expert(g, models, "high")
    low = _expert(g, models, "low")
    positive = g.add("CLIPTextEncode", title="Prompt", text=params.prompt, clip=clip.out())
    negative = g.add(
        "CLIPTextEncode",
        title="Negative prompt",
        text=params.negative_prompt or models.negative_prompt,
        clip=clip.out(),
    )
    latent = g.add(
        "WanImageToVideo",
        positive=positive.out(),
        negative=negative.out(),
        vae=vae.out(),
        width=params.width,
        height=params.height,
        length=params.length,
        batch_size=1,
        start_image=image.out(),
    )
    sampling: dict[str, InputValue] = {
        "noise_seed": params.seed,
        "steps": steps,
        "cfg": cfg,
        "sampler_name": models.sampler_name,
        "scheduler": models.scheduler,
        "positive": latent.out(0),
        "negative": latent.out(1),
    }
    first = g.add(
        "KSamplerAdvanced",
        title="High-noise expert",
        model=high,
        add_noise="enable",
        latent_image=latent.out(2),
        start_at_step=0,
        end_at_step=boundary,
        return_with_leftover_noise="enable",
        **sampling,
    )
    second = g.add(
        "KSamplerAdvanced",
        title="Low-noise expert",
        model=low,
        add_noise="disable",
        latent_image=first.out(),
        start_at_step=boundary,
        end_at_step=steps,  # the template's low-noise sampler ends at its step count
        return_with_leftover_noise="disable",
        **sampling,
    )
    frames = g.add("VAEDecode", samples=second.out(), vae=vae.out())
    video = g.add("CreateVideo", images=frames.out(), fps=float(params.fps))
    save_video(g, video.out(), params.filename_prefix)
    if params.handoff_frames:
        save_handoff(
            g,
            frames.out(),
            decoded=params.length,
            frames=params.handoff_frames,
            filename_prefix=params.filename_prefix,
        )
    return g.to_api()


def _expert(g: Graph, models: I2VPreset, stage: Literal["high", "low"]) -> Link:
    """One expert's model chain: loader → LightX2V LoRA → ModelSamplingSD3."""
    high = stage == "high"
    files, loras = models.diffusion.experts, models.loras
    unet = g.add(
        models.diffusion.loader,
        title=f"{stage.capitalize()}-noise model",
        unet_name=files.high_noise if high else files.low_noise,
        **dict(models.diffusion.loader_inputs),
    )
    lora = g.add(
        "LoraLoaderModelOnly",
        model=unet.out(),
        lora_name=loras.high_noise if high else loras.low_noise,
        strength_model=models.lora_strength,
    )
    return g.add("ModelSamplingSD3", model=lora.out(), shift=models.shift).out()
