"""Which official template each preset follows, and every deliberate deviation from it. Pure.

The templates are Comfy-Org's workflow templates, as shipped in the PyPI package
``comfyui-workflow-templates-json`` (pinned in the ``dev`` extra). A template can hold more
than one set-up: I2V switches its 4-step LoRA on with a boolean, S2V keeps a bypassed copy
of the graph without the LoRA. ``TemplateRef`` says which one a preset follows;
``tests/unit/test_template_parity.py`` reads the template (expanding its subgraphs) and
compares node classes, sampler, scheduler, steps, cfg, shift, fps, window length, motion
frames and model files (name, folder, URL) with the preset's graph. A difference that is not
in ``DEVIATIONS``, with the same values on both sides, fails that test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEMPLATES_PACKAGE = "comfyui-workflow-templates-json"
TEMPLATES_VERSION = "0.1.123"


@dataclass(frozen=True)
class TemplateRef:
    """One set-up inside an official template."""

    name: str
    """``templates/<name>.json`` in the package."""
    switches: dict[str, bool] = field(default_factory=dict)
    """Values for the template's boolean switches, by node title."""
    with_lora: bool | None = None
    """For templates with two copies of the graph: the one with (or without) a LoRA loader."""


TEMPLATE_OF: dict[str, TemplateRef] = {
    "wan22-i2v-fp8": TemplateRef("video_wan2_2_14B_i2v", switches={"Enable 4steps LoRA?": True}),
    "wan22-i2v-gguf": TemplateRef("video_wan2_2_14B_i2v", switches={"Enable 4steps LoRA?": True}),
    "wan22-s2v-fp8": TemplateRef("video_wan2_2_14B_s2v", with_lora=True),
    "wan22-s2v-fp8-nolora": TemplateRef("video_wan2_2_14B_s2v", with_lora=False),
    "infinitetalk-fp8": TemplateRef("video_wan2_1_infinitetalk"),
}
"""Preset → the template set-up it follows."""


@dataclass(frozen=True)
class Deviation:
    """One place where a preset's graph differs from its template, on purpose."""

    presets: tuple[str, ...]
    role: str
    """``nodes`` (node classes), ``files``, or a sampling value (``steps``, ``mode``...)."""
    ours: tuple[str, ...]
    """Our values (or node classes) that the template lacks."""
    template: tuple[str, ...]
    """The template's values (or node classes) that our graph lacks."""
    reason: str


_I2V = ("wan22-i2v-fp8", "wan22-i2v-gguf")
_S2V = ("wan22-s2v-fp8", "wan22-s2v-fp8-nolora")
_TALK = ("infinitetalk-fp8",)

DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        ("wan22-i2v-gguf",),
        "nodes",
        ("UnetLoaderGGUF",),
        ("UNETLoader",),
        "The GGUF preset loads Q4_K_M quantisations of the same two experts through "
        "ComfyUI-GGUF, for GPUs without the memory for the fp8 files.",
    ),
    Deviation(
        ("wan22-i2v-gguf",),
        "files",
        ("Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf", "Wan2.2-I2V-A14B-LowNoise-Q4_K_M.gguf"),
        (
            "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
            "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
        ),
        "Same experts, quantised (see the node deviation); models.toml gives their source.",
    ),
    Deviation(
        _S2V,
        "nodes",
        (),
        ("ImageFromBatch", "LatentCut"),
        "The template doubles the first latent frame and drops one decoded frame per chunk to "
        "hide an overbaked first frame; that makes the frame count depend on the chunk count, "
        "and the frame plan (pipeline.domain.frames.rules.s2v_total_frames) needs "
        "chunks * 80 - 3 exactly.",
    ),
    Deviation(
        _TALK,
        "nodes",
        ("GetVideoComponents", "LoadVideo", "TrimAudioDuration"),
        ("AudioConcat", "BatchImagesNode", "Painter"),
        "One prompt per window: a window loads the previous window's video as "
        "previous_frames and trims the audio so the node's feature offset lands on its first "
        "frame; the stitcher joins the windows (not BatchImagesNode). The template's "
        "AudioConcat and Painter masks belong to its two-speaker demo.",
    ),
    Deviation(
        _TALK,
        "mode",
        ("single_speaker",),
        ("two_speakers",),
        "Single speaker by default; two speakers need a second audio track and a mask per "
        "speaker in the manifest (planned in workflows_comfy.infinitetalk, not built).",
    ),
)
"""Every deliberate difference between a preset's graph and its template, with the reason."""


def deviation(preset: str, role: str) -> Deviation | None:
    """The deviation recorded for ``preset`` and ``role``, if any."""
    found = [d for d in DEVIATIONS if preset in d.presets and d.role == role]
    return found[0] if found else None
