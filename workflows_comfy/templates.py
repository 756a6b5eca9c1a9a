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
    """``nodes`` (node classes), ``files``, a compared value (``steps``, ``mode``...), or a
    difference the parity test does not read (``previous_frames``, ``size``...)."""
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
        "previous_frames",
        ("LoadVideo of the previous window's MP4",),
        ("the previous window's IMAGE output",),
        "Windows are separate prompts, so the previous window's 81 frames come back from its "
        "H.264 file: the 9 motion frames pass through one lossy encode the template's "
        "in-memory chain does not have.",
    ),
    Deviation(
        _TALK,
        "audio",
        ("audio trimmed to [previous window start, window end)",),
        ("the whole audio",),
        "The node reads features for frames [72, 153) of what it is given, so each window "
        "encodes only that stretch: bounded work per window on long clips; wav2vec2 then sees "
        "2.9 s of context before the window and none after it.",
    ),
    Deviation(
        _TALK,
        "video",
        ("one file per window with its own stretch of audio",),
        ("one file of all windows with the whole audio",),
        "The stitcher joins the windows (dropping each one's 9 re-rendered frames) and muxes "
        "the original mix, trimmed to the audio's real length.",
    ),
    Deviation(
        _S2V,
        "chunks",
        ("the plan's chunk count",),
        ("3 (Batch sizes)",),
        "The frame plan sets the chunk count from the audio's length "
        "(pipeline.domain.frames.rules.s2v_chunks).",
    ),
    Deviation(
        (*_I2V, *_S2V, *_TALK),
        "size",
        ("the manifest's width x height",),
        ("640x640 (I2V, S2V), 832x480 (InfiniteTalk)",),
        "The manifest chooses the size (default 832x480, multiples of 16).",
    ),
    Deviation(
        (*_I2V, *_S2V, *_TALK),
        "save",
        ("mp4 / h264 (format, codec and format.codec)",),
        ("auto / auto",),
        "The stitcher expects H.264 MP4; the graph spells the choice so that ComfyUI 0.3.64 "
        "(flat format/codec) and current ComfyUI (nested format.codec) both accept it.",
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
