"""Model presets: every model file name a graph builder uses, in one place.

Wan 2.2 A14B is two experts: a high-noise model for the first sampling steps and a
low-noise model for the rest. Each I2V preset pairs them with the LightX2V 4-step LoRAs
and ``ModelSamplingSD3`` shift 8.0, as in Comfy-Org's official Wan 2.2 I2V template.
File names must match the worker's model folders (see the contract's object_info).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ManifestError


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
class Preset:
    """Everything model-specific a graph builder needs; the graph shape lives in the builder."""

    name: str
    kind: str
    diffusion: DiffusionModels
    loras: ExpertPair
    lora_strength: float = 1.0
    text_encoder: str = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    text_encoder_type: str = "wan"
    vae: str = "wan_2.1_vae.safetensors"
    shift: float = 8.0
    sampler_name: str = "euler"
    scheduler: str = "simple"


_LIGHTX2V_I2V = ExpertPair(
    high_noise="wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors",
    low_noise="wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors",
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
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
        Preset(
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
    )
}

DEFAULT_PRESET: dict[str, str] = {"i2v": "wan22-i2v-fp8"}
"""The preset each kind uses when the manifest names none."""


class UnknownPreset(ManifestError):
    """The manifest names a preset this deployment does not have."""


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
