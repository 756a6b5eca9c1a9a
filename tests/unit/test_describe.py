"""How sessions read in the Temporal UI (pipeline.ingest.summary, pipeline.workflows.describe)."""

from __future__ import annotations

from pipeline.domain.contracts import SessionProgress
from pipeline.domain.drop import DropRef
from pipeline.domain.manifest import Kind, Manifest
from pipeline.ingest import summary as describe
from pipeline.workflows.describe import current_details, live_line, waiting_details
from workflows_comfy.presets import planned_frames, preset_name

DROP = DropRef.of("bucket", "inbox/abc/manifest.json", "etag")


def test_summary_names_kind_preset_frames_and_drop() -> None:
    manifest = Manifest(kind=Kind.I2V, image="a.png", extensions=1)
    line = describe.summary(DROP, manifest)
    kind, preset, frames, key = line.split(" · ")
    assert (kind, key) == ("i2v", "`inbox/abc/manifest.json`")
    assert preset == f"`{preset_name(manifest)}`" != "`?`"
    assert frames == f"{planned_frames(manifest)} frames"


def test_audio_kinds_leave_frames_to_the_audio_and_unreadable_drops_show_their_key() -> None:
    manifest = Manifest(kind=Kind.INFINITETALK, image="a.png", audio="v.wav")
    assert "frames from audio" in describe.summary(DROP, manifest)
    assert describe.summary(DROP, None) == "`inbox/abc/manifest.json`"


def test_details_and_memo_carry_the_prompt_and_the_inputs() -> None:
    manifest = Manifest(kind=Kind.I2V, image="a.png", prompt="a cat " * 60)
    inputs = {"image": "sessions/s/inputs/a.png"}
    text = describe.details(DROP, manifest, inputs)
    assert "- image: `sessions/s/inputs/a.png`\n" in text
    assert f"- links: `pipeline status {DROP.session_id}` prints fresh URLs" in text
    assert "X-Amz" not in text
    assert "](" not in text
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


def test_the_uis_live_line_quotes_an_error_as_code_and_names_the_latest_preview() -> None:
    failed = SessionProgress(stage="failed", error="image '[x](http://e).png' is not an image")
    assert live_line(failed) == "failed · image '[x](http://e).png' is not an image"
    assert current_details(failed, "session-s") == (
        "failed · `image '[x](http://e).png' is not an image`"
    )
    previews = ["sessions/s/generations/r/previews/segment_000.mp4", "sessions/s/p/1.mp4"]
    stitching = SessionProgress(
        stage="stitching", segments_done=2, segments_total=2, previews=previews
    )
    assert current_details(stitching, "session-s") == (
        "stitching · 2/2 segments\n\npreview of segment 2: `sessions/s/p/1.mp4` "
        "(`pipeline status session-s` prints its URL)"
    )


def test_the_uis_waiting_line_shows_every_name_as_code() -> None:
    assert waiting_details(["fa`se.png"], ["face.png", "[a](http://e)"]) == (
        "waiting for ``fa`se.png``; the drop folder holds `face.png`, `[a](http://e)` "
        "(did you mean `face.png`?)"
    )
