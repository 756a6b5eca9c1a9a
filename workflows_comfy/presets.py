"""Model presets: every model file name a graph builder uses, in one place.

One preset class per graph family; each names files the worker must offer in its loaders'
combo lists (the contract's object_info in tests, ``models.json`` for the folders).

- I2V: Wan 2.2 A14B is two experts, a high-noise model for the first sampling steps and a
  low-noise model for the rest, each with its LightX2V 4-step LoRA and ``ModelSamplingSD3``
  shift 8.0, as in Comfy-Org's official Wan 2.2 I2V template.
- S2V: the Wan 2.2 S2V 14B model with the wav2vec2 audio encoder, as in Comfy-Org's
  ``video_wan2_2_14B_s2v`` template (uni_pc, simple, shift 8.0). That template's 4-step
  LoRA (``wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise``) is not in the contract's
  ``loras`` folder, so the preset runs without one.
- InfiniteTalk: seed 001's WanVideoWrapper set-up (InfiniteTalk Q8, a local wav2vec2, UMT5
  bf16, block swap 40, LightX2V rank64 LoRA, shift 11). See ``workflows_comfy.infinitetalk``
  for where the contract's older WanVideoWrapper entries force a different choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pipeline.domain.errors import ManifestError
from pipeline.domain.manifest import Manifest

WAN_VAE = "wan_2.1_vae.safetensors"
UMT5_FP8 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"


@dataclass(frozen=True)
class Preset:
    """What every preset has: its name and the kind of graph it serves."""

    name: str
    kind: str


@dataclass(frozen=True)
class ExpertPair:
    """A high-noise and a low-noise file for the same loader."""

    high_noise: str
    low_noise: str


@dataclass(frozen=True)
class DiffusionModels:
    """How the two experts load: ``UNETLoader`` (safetensors) or ``UnetLoaderGGUF``."""

    loader: str
    files: ExpertPair
    loader_inputs: tuple[tuple[str, str], ...] = ()
    """Extra inputs the loader requires, e.g. ``UNETLoader``'s ``weight_dtype``."""


@dataclass(frozen=True)
class I2VPreset(Preset):
    """Everything model-specific the I2V builder needs; the graph shape lives in the builder."""

    diffusion: DiffusionModels
    loras: ExpertPair
    lora_strength: float = 1.0
    text_encoder: str = UMT5_FP8
    text_encoder_type: str = "wan"
    vae: str = WAN_VAE
    shift: float = 8.0
    sampler_name: str = "euler"
    scheduler: str = "simple"


@dataclass(frozen=True)
class S2VPreset(Preset):
    """Files and sampler settings of the Wan 2.2 S2V graph (``workflows_comfy.s2v``)."""

    unet: str
    audio_encoder: str
    weight_dtype: str = "default"
    lora: str | None = None
    lora_strength: float = 1.0
    text_encoder: str = UMT5_FP8
    vae: str = WAN_VAE
    shift: float = 8.0
    sampler_name: str = "uni_pc"
    scheduler: str = "simple"


@dataclass(frozen=True)
class InfiniteTalkPreset(Preset):
    """Files and settings of the WanVideoWrapper InfiniteTalk graph (``infinitetalk``)."""

    model: str
    """``WanVideoModelLoader.model``: the base Wan 14B I2V model."""
    infinitetalk_model: str
    """``MultiTalkModelLoader.model``: the InfiniteTalk weights."""
    wav2vec: str
    """``Wav2VecModelLoader.model``: a local file in ComfyUI's ``models/wav2vec2``."""
    lora: str
    t5: str = "umt5-xxl-enc-bf16.safetensors"
    vae: str = WAN_VAE
    lora_strength: float = 1.0
    base_precision: str = "bf16"
    quantization: str = "disabled"
    blocks_to_swap: int = 40
    shift: float = 11.0
    scheduler: str = "euler"


_LIGHTX2V_I2V = ExpertPair(
    high_noise="wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors",
    low_noise="wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors",
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        I2VPreset(
            name="wan22-i2v-fp8",
            kind="i2v",
            diffusion=DiffusionModels(
                loader="UNETLoader",
                files=ExpertPair(
                    high_noise="wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
                    low_noise="wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
                ),
                loader_inputs=(("weight_dtype", "default"),),
            ),
            loras=_LIGHTX2V_I2V,
        ),
        I2VPreset(
            name="wan22-i2v-gguf",
            kind="i2v",
            diffusion=DiffusionModels(
                loader="UnetLoaderGGUF",
                files=ExpertPair(
                    high_noise="Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf",
                    low_noise="Wan2.2-I2V-A14B-LowNoise-Q4_K_M.gguf",
                ),
            ),
            loras=_LIGHTX2V_I2V,
        ),
        S2VPreset(
            name="wan22-s2v-fp8",
            kind="s2v",
            unet="wan2.2_s2v_14B_fp8_scaled.safetensors",
            audio_encoder="wav2vec2_large_english_fp16.safetensors",
        ),
        InfiniteTalkPreset(
            name="infinitetalk-q8",
            kind="infinitetalk",
            # Seed 001 runs wan2.1-i2v-14b-480p-Q5_0.gguf, which the contract's (2025-03)
            # WanVideoModelLoader does not list; the Wan 2.2 low-noise expert has the
            # same Wan 14B architecture and is what that loader offers.
            model="wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
            infinitetalk_model="Wan2_1-InfiniteTalk_Single_Q8.gguf",
            wav2vec="wav2vec2_large_english_fp16.safetensors",
            lora="lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors",
        ),
    )
}

DEFAULT_PRESET: dict[str, str] = {
    "i2v": "wan22-i2v-fp8",
    "s2v": "wan22-s2v-fp8",
    "infinitetalk": "infinitetalk-q8",
}
"""The preset each kind uses when the manifest names none."""


class UnknownPreset(ManifestError):
    """The manifest names a preset this deployment does not have."""


PresetT = TypeVar("PresetT", bound=Preset)


def preset(name: str) -> Preset:
    """The preset called ``name``; ``UnknownPreset`` lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise UnknownPreset(
            f"unknown model preset {name!r}; known presets: {known}",
            detail={"preset": name, "known": sorted(PRESETS)},
        ) from None


def preset_of_type(name: str, family: type[PresetT], kind: str) -> PresetT:
    """``preset(name)``, refused with ``ValueError`` unless it is a ``family`` (``kind``)."""
    found = preset(name)
    if not isinstance(found, family):
        raise ValueError(f"preset {found.name!r} is for {found.kind!r}, not {kind}")
    return found


def presets_of(kind: str) -> list[str]:
    """Names of the presets serving ``kind``, sorted."""
    return sorted(name for name, p in PRESETS.items() if p.kind == kind)


def preset_for(manifest: Manifest) -> Preset:
    """The manifest's model preset (or its kind's default), checked to fit its kind.

    Raises ``UnknownPreset`` or ``ManifestError`` (bad input, not retryable).
    """
    chosen = preset(manifest.preset or DEFAULT_PRESET[manifest.kind.value])
    if chosen.kind != manifest.kind.value:
        raise ManifestError(
            f"preset {chosen.name!r} is for kind {chosen.kind!r}, not {manifest.kind.value!r}"
        )
    return chosen
