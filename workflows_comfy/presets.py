"""Model presets: every model file and sampler default a graph builder uses, in one place.

One preset class per graph family. Each preset names files of ``workflows_comfy/models.toml``
(folder and download URL per file) and carries its own ``steps``/``cfg`` defaults: a
manifest that leaves them unset gets the preset's, because a distilled LoRA preset and a
plain one sample very differently. The values follow Comfy-Org's official templates
(``comfyui-workflow-templates-json`` 0.1.123); ``workflows_comfy.templates`` lists every
deliberate deviation and ``tests/unit/test_template_parity.py`` holds the presets to them.

- I2V (``video_wan2_2_14B_i2v``): Wan 2.2 A14B's high- and low-noise experts, each with its
  LightX2V 4-step LoRA (the template's "Enable 4steps LoRA?" branch: 4 steps, cfg 1.0, the
  switch at step 2) and ``ModelSamplingSD3`` shift 5.0, euler / simple.
- S2V (``video_wan2_2_14B_s2v``): Wan 2.2 S2V 14B with wav2vec2-large, shift 8.0, uni_pc /
  simple; ``wan22-s2v-fp8`` runs the template's active branch (the 4-step LightX2V LoRA,
  4 steps, cfg 1.0), ``wan22-s2v-fp8-nolora`` its bypassed one (20 steps, cfg 6.0).
- InfiniteTalk (``video_wan2_1_infinitetalk``): Wan 2.1 I2V 14B 480p with the InfiniteTalk
  model patch, wav2vec2-chinese-base and the LightX2V rank-64 I2V distill LoRA; 6 steps,
  cfg 1.0, euler / normal, no ``ModelSamplingSD3`` (the template has none).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field, fields
from typing import TypeVar

from pipeline.domain.errors import ManifestError, PipelineError, UnknownPreset
from pipeline.domain.frames.plan import plan_for
from pipeline.domain.manifest import Kind, Manifest
from pipeline.domain.quality import DEFAULT_QC_POLICY, QcPolicy, QualityThresholds

# The template's Chinese text, full-width commas included.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"  # noqa: RUF001
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"  # noqa: RUF001
    "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"  # noqa: RUF001
)
"""Wan's standard negative prompt, the I2V and S2V templates' "CLIP Text Encode (Negative
Prompt)"; used when the manifest gives none (it only matters when cfg > 1)."""
WAN_VAE = "wan_2.1_vae.safetensors"
UMT5_FP8 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"


@dataclass(frozen=True)
class Preset:
    """What every preset has: its name, the kind it serves and its sampling defaults."""

    name: str
    kind: str
    steps: int
    """Sampling steps when the manifest sets none."""
    cfg: float
    """Classifier-free guidance when the manifest sets none (1.0 = off, for distilled LoRAs)."""
    _: KW_ONLY
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    """The quality gate's thresholds for this preset's segments (``pipeline.domain.quality``)."""
    qc: QcPolicy = DEFAULT_QC_POLICY
    """What a failed quality check does when the manifest sets no ``qc``."""

    def takes(self, setting: str) -> bool:
        """Whether the manifest's ``setting`` (``steps``, ``cfg``, ``negative_prompt``)
        reaches the graph; an operator's graph takes only what it binds."""
        return True

    def files(self) -> tuple[str, ...]:
        """Every model file the preset names, in field order (rows of ``models.toml``)."""
        found: list[str] = []
        for value in (getattr(self, f.name) for f in fields(self)):
            if isinstance(value, ExpertPair | DiffusionModels):
                found.extend(value.files())
            elif isinstance(value, str) and value.endswith((".safetensors", ".gguf")):
                found.append(value)
        return tuple(found)


@dataclass(frozen=True)
class ExpertPair:
    """A high-noise and a low-noise file for the same loader."""

    high_noise: str
    low_noise: str

    def files(self) -> tuple[str, str]:
        return self.high_noise, self.low_noise


@dataclass(frozen=True)
class DiffusionModels:
    """How the two experts load: ``UNETLoader`` (safetensors) or ``UnetLoaderGGUF``."""

    loader: str
    experts: ExpertPair
    loader_inputs: tuple[tuple[str, str], ...] = ()
    """Extra inputs the loader requires, e.g. ``UNETLoader``'s ``weight_dtype``."""

    def files(self) -> tuple[str, str]:
        return self.experts.files()


@dataclass(frozen=True)
class I2VPreset(Preset):
    """Everything model-specific the I2V builder needs; the graph shape lives in the builder."""

    diffusion: DiffusionModels
    loras: ExpertPair
    lora_strength: float = 1.0
    negative_prompt: str = WAN_NEGATIVE_PROMPT
    text_encoder: str = UMT5_FP8
    text_encoder_type: str = "wan"
    vae: str = WAN_VAE
    shift: float = 5.0
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
    negative_prompt: str = WAN_NEGATIVE_PROMPT
    text_encoder: str = UMT5_FP8
    vae: str = WAN_VAE
    shift: float = 8.0
    sampler_name: str = "uni_pc"
    scheduler: str = "simple"


@dataclass(frozen=True)
class InfiniteTalkPreset(Preset):
    """Files and settings of the core-node InfiniteTalk graph (``workflows_comfy.infinitetalk``)."""

    unet: str
    """``UNETLoader``: the Wan 2.1 I2V 14B 480p model InfiniteTalk is trained on."""
    model_patch: str
    """``ModelPatchLoader`` (``models/model_patches``): the InfiniteTalk weights."""
    audio_encoder: str
    """``AudioEncoderLoader``: wav2vec2-chinese-base, the encoder InfiniteTalk was trained with."""
    lora: str
    weight_dtype: str = "default"
    lora_strength: float = 1.0
    text_encoder: str = UMT5_FP8
    vae: str = "Wan2_1_VAE_bf16.safetensors"
    sampler_name: str = "euler"
    scheduler: str = "normal"
    audio_scale: float = 1.0


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
            steps=4,
            cfg=1.0,
            diffusion=DiffusionModels(
                loader="UNETLoader",
                experts=ExpertPair(
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
            steps=4,
            cfg=1.0,
            diffusion=DiffusionModels(
                loader="UnetLoaderGGUF",
                experts=ExpertPair(
                    high_noise="Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf",
                    low_noise="Wan2.2-I2V-A14B-LowNoise-Q4_K_M.gguf",
                ),
            ),
            loras=_LIGHTX2V_I2V,
        ),
        S2VPreset(
            name="wan22-s2v-fp8",
            kind="s2v",
            steps=4,
            cfg=1.0,
            unet="wan2.2_s2v_14B_fp8_scaled.safetensors",
            audio_encoder="wav2vec2_large_english_fp16.safetensors",
            lora="wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors",
        ),
        S2VPreset(
            name="wan22-s2v-fp8-nolora",
            kind="s2v",
            steps=20,
            cfg=6.0,
            unet="wan2.2_s2v_14B_fp8_scaled.safetensors",
            audio_encoder="wav2vec2_large_english_fp16.safetensors",
        ),
        InfiniteTalkPreset(
            name="infinitetalk-fp8",
            kind="infinitetalk",
            steps=6,
            cfg=1.0,
            unet="Wan2_1-I2V-14B-480p_fp8_e4m3fn_scaled_KJ.safetensors",
            model_patch="wan2.1_infiniteTalk_multi_fp16.safetensors",
            audio_encoder="wav2vec2-chinese-base_fp16.safetensors",
            lora="lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors",
        ),
    )
}

DEFAULT_PRESET: dict[str, str] = {
    "i2v": "wan22-i2v-fp8",
    "s2v": "wan22-s2v-fp8",
    "infinitetalk": "infinitetalk-fp8",
}
"""The preset each kind uses when the manifest names none."""


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


def unused_settings(manifest: Manifest) -> list[str]:
    """A note for each of the manifest's sampling settings its preset's graph does not take.

    An operator's graph keeps its own value of a role it does not bind (``docs/presets.md``, "Bring
    your own graph"), so a manifest's ``steps = 7`` for it changes nothing; the plan's
    notes say so. Raises what ``preset_for`` raises.
    """
    chosen = preset_for(manifest)
    given: dict[str, object] = {
        "steps": manifest.steps,
        "cfg": manifest.cfg,
        "negative_prompt": manifest.negative_prompt or None,
    }
    return [
        f"{name} = {value!r} is not used: preset {chosen.name!r} binds no {name}, "
        "so its workflow's own value applies"
        for name, value in given.items()
        if value is not None and not chosen.takes(name)
    ]


def preset_name(manifest: Manifest) -> str:
    """The preset the session renders with; the manifest's own word if it names none known."""
    try:
        return preset_for(manifest).name
    except PipelineError:
        return manifest.preset or "?"


def sampling_steps(manifest: Manifest) -> int:
    """The manifest's steps, else its preset's default (0 when the preset is unknown).

    A preset whose graph binds no ``steps`` runs its graph's own: that count, whatever the
    manifest says.
    """
    try:
        chosen = preset_for(manifest)
    except PipelineError:
        return manifest.steps or 0
    if manifest.steps is not None and chosen.takes("steps"):
        return manifest.steps
    return chosen.steps


def qc_policy(manifest: Manifest) -> QcPolicy:
    """The manifest's ``qc``, else its preset's. Raises what ``preset_for`` raises."""
    return manifest.qc or preset_for(manifest).qc


def planned_frames(manifest: Manifest) -> int | None:
    """Frames the session will render, when the manifest alone decides it (i2v)."""
    if manifest.kind is not Kind.I2V:
        return None  # Audio kinds: the cropped audio's length decides, known after planning.
    try:
        return plan_for(manifest, None).total_frames
    except PipelineError:
        return None
