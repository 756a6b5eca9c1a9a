"""How sessions read in the Temporal UI (pipeline.ingest.summary, pipeline.workflows.describe)."""

from __future__ import annotations

from pipeline.domain.contracts import SessionProgress
from pipeline.domain.drop import DropRef
from pipeline.domain.manifest import Kind, Manifest
from pipeline.ingest import summary as describe
from pipeline.workflows.describe import live_line
from workflows_comfy.presets import planned_frames, preset_name

DROP = DropRef.of("bucket", "inbox/abc/manifest.json", "etag")


def test_summary_names_kind_preset_frames_and_drop() -> None:
    manifest = Manifest(kind=Kind.I2V, image="a.png", extensions=1)
    line = describe.summary(DROP, manifest)
    kind, preset, frames, key = line.split(" · ")
    assert (kind, key) == ("i2v", "inbox/abc/manifest.json")
    assert preset == preset_name(manifest) != "?"
    assert frames == f"{planned_frames(manifest)} frames"


def test_audio_kinds_leave_frames_to_the_audio_and_unreadable_drops_show_their_key() -> None:
    manifest = Manifest(kind=Kind.INFINITETALK, image="a.png", audio="v.wav")
    assert "frames from audio" in describe.summary(DROP, manifest)
    assert describe.summary(DROP, None) == "inbox/abc/manifest.json"


def test_details_and_memo_carry_the_prompt_and_the_inputs() -> None:
    manifest = Manifest(kind=Kind.I2V, image="a.png", prompt="a cat " * 60)
    text = describe.details(DROP, manifest, {"image": "http://x/sessions/s/inputs/a.png?sig=1"})
    assert "- image: [a.png](http://x/sessions/s/inputs/a.png?sig=1)" in text
    memo = describe.memo(DROP, manifest, {"image": "sessions/s/inputs/a.png"})
    assert memo["inputs"] == {"image": "sessions/s/inputs/a.png"}
    assert len(memo["prompt"]) == describe.PROMPT_CHARS
    assert memo["drop"] == "s3://bucket/inbox/abc/manifest.json"


def test_live_line_while_generating_and_after() -> None:
    generating = SessionProgress(
        stage="generating",
        segments_done=1,
        segments_total=4,
        node="KSamplerAdvanced",
        step=3,
        steps=4,
        eta_s=40.2,
    )
    assert live_line(generating) == "segment 2/4 · KSamplerAdvanced step 3/4 · ETA 40 s"
    stitching = generating.model_copy(update={"stage": "stitching", "segments_done": 4})
    assert live_line(stitching).startswith("stitching · 4/4 segments")


def test_live_line_says_what_the_prompt_is_doing_when_the_worker_says() -> None:
    encoding = SessionProgress(
        stage="generating",
        segments_done=0,
        segments_total=2,
        node="CLIPTextEncode",
        doing="encoding prompt",
    )
    sampling = encoding.model_copy(
        update={"node": "KSamplerAdvanced", "doing": "sampling step 3/8", "step": 3, "steps": 8}
    )

    assert live_line(encoding) == "segment 1/2 · encoding prompt"
    assert live_line(sampling) == "segment 1/2 · sampling step 3/8"


def test_live_line_counts_the_segments_the_gate_rendered_again() -> None:
    progress = SessionProgress(stage="stitching", segments_done=3, segments_total=3, rerenders=1)

    assert live_line(progress) == "stitching · 3/3 segments · 1 re-rendered by the quality gate"
