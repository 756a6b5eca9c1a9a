"""The session's records as models (pipeline.domain.records) and their published schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from pipeline.cli.status import schema
from pipeline.domain.records import (
    ErrorRecord,
    RunRecord,
    SessionRecord,
    json_schema,
    parse_record,
    runs_so_far,
)

SCHEMAS = Path(__file__).parents[2] / "pipeline" / "schemas"
AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

SUCCEEDED_RUN = RunRecord(
    run="r1",
    status="succeeded",
    workflow_id="session-a",
    combined="sessions/a/generations/r1/combined.mp4",
    combined_url="https://media.example.com/sessions/a/generations/r1/combined.mp4",
    finished_at=AT,
)
FAILED_RUN = RunRecord(
    run="r2-b1",
    status="failed",
    workflow_id="reprocess-b1-a",
    changed={"steps": 6},
    code="comfy_timeout",
    message="ComfyUI prompt did not finish",
    finished_at=AT,
)
RESULT = SessionRecord(
    status="succeeded",
    session_id="a",
    workflow_id="session-a",
    run="r1",
    kind="i2v",
    preset="wan22-i2v-fp8",
    drop_key="inbox/a/manifest.json",
    manifest={"kind": "i2v", "image": "a.png"},
    objects={"combined": "sessions/a/generations/r1/combined.mp4"},
    urls={"combined": "https://media.example.com/sessions/a/generations/r1/combined.mp4"},
    frames=161,
    duration_s=10.06,
    timings_s={"stitch": 1.5},
    versions={"pipeline": "0.1.0"},
    finished_at=AT,
    runs=[SUCCEEDED_RUN, FAILED_RUN],
)
FAILURE = ErrorRecord(
    status="failed",
    session_id="b",
    workflow_id="session-b",
    stage="separating_vocals",
    code="separation_unavailable",
    message="no separation worker",
    retryable=False,
    detail={"queue": "gpu"},
    kind="infinitetalk",
    failed_at=AT,
    runs=[FAILED_RUN],
)


@pytest.mark.parametrize("record", [RESULT, FAILURE], ids=["result", "error"])
def test_a_record_reads_back_as_it_was_written(record: SessionRecord | ErrorRecord) -> None:
    written = json.loads(json.dumps(record.model_dump(mode="json")))
    assert parse_record(written) == record
    assert written["runs"][-1]["finished_at"] == "2026-11-29T12:00:00+00:00"


def test_every_run_has_one_shape_whatever_its_outcome() -> None:
    succeeded, failed = (run.model_dump(mode="json") for run in (SUCCEEDED_RUN, FAILED_RUN))
    assert succeeded.keys() == failed.keys() == set(RunRecord.model_fields)
    assert (succeeded["code"], failed["combined"]) == (None, None)


@pytest.mark.parametrize(
    ("record", "missing"),
    [(RESULT, "frames"), (RESULT, "objects"), (FAILURE, "retryable"), (FAILURE, "code")],
)
def test_a_record_missing_a_required_field_is_refused(
    record: SessionRecord | ErrorRecord, missing: str
) -> None:
    document = record.model_dump(mode="json")
    del document[missing]
    with pytest.raises(ValidationError, match=missing):
        type(record).model_validate(document)


def test_a_naive_timestamp_or_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        ErrorRecord.model_validate(
            {**FAILURE.model_dump(mode="json"), "failed_at": "2026-11-29T12:00:00"}
        )
    with pytest.raises(ValidationError):
        parse_record({**RESULT.model_dump(mode="json"), "status": "running"})


def test_unknown_keys_survive_a_rewrite() -> None:
    newer: dict[str, Any] = {**RESULT.model_dump(mode="json"), "gpu": "H100"}
    rewritten = SessionRecord.model_validate(newer).model_copy(update={"runs": []})
    assert rewritten.model_dump(mode="json")["gpu"] == "H100"


def test_a_record_from_before_runs_were_listed_counts_as_one_run() -> None:
    earlier = RESULT.model_dump(mode="json")
    del earlier["runs"], earlier["stand_ins"], earlier["preset"], earlier["drop_key"]
    (run,) = runs_so_far(parse_record(earlier))
    assert (run.run, run.status, run.combined, run.finished_at) == (
        "r1",
        "succeeded",
        RESULT.objects["combined"],
        AT,
    )
    assert runs_so_far(FAILURE) == [FAILED_RUN]


@pytest.mark.parametrize("document", ["result", "error"])
def test_the_published_schema_is_the_models(document: Literal["result", "error"]) -> None:
    published = json.loads((SCHEMAS / f"{document}.v1.json").read_text())
    assert published == json_schema(document), "run `make schema`"
    printed = CliRunner().invoke(schema, [document], catch_exceptions=False)
    assert json.loads(printed.stdout) == published  # What `make schema` writes.
