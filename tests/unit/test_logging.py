"""SDK log lines come out as our JSON, with session/workflow/activity ids and no internals."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from pipeline.logging import configure_logging, temporal_context


@activity.defn(name="talkative")
async def talkative() -> None:
    activity.logger.info("rendering %d frames", 81)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
    structlog.reset_defaults()


@pytest.mark.usefixtures("restored_logging")
async def test_activity_logger_lines_carry_ids_and_no_record_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id="session-abc-123", activity_type="talkative"
    )
    await env.run(talkative)

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    line = next(entry for entry in lines if entry["event"].startswith("rendering"))
    assert line["event"] == "rendering 81 frames"  # No "({'attempt': ...})" suffix.
    assert (line["session_id"], line["workflow_id"]) == ("abc-123", "session-abc-123")
    assert (line["activity"], line["logger"], line["level"]) == (
        "talkative",
        "temporalio.activity",
        "info",
    )
    assert not any(key.startswith("_") for key in line)


def test_workflow_records_name_their_session() -> None:
    record = logging.LogRecord("temporalio.workflow", logging.INFO, "", 0, "x", None, None)
    record.temporal_workflow = {
        "workflow_id": "session-s1",
        "run_id": "r1",
        "workflow_type": "SessionWorkflow",
    }
    event = temporal_context(None, "info", {"_record": record, "event": "x"})
    assert (event["session_id"], event["run_id"], event["workflow_type"]) == (
        "s1",
        "r1",
        "SessionWorkflow",
    )
    bound = temporal_context(None, "info", {"_record": record, "session_id": "bound"})
    assert bound["session_id"] == "bound"


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque 7>"


@pytest.mark.usefixtures("restored_logging")
def test_a_value_json_cannot_hold_is_logged_as_its_repr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")

    structlog.get_logger().info("odd value", value=_Opaque(), error=ValueError("bad"))
    logging.getLogger("temporalio.worker").warning("task failed: %s", "x", extra={"o": _Opaque()})

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    odd = next(line for line in lines if line["event"] == "odd value")
    assert (odd["value"], odd["error"]) == ("<opaque 7>", "ValueError('bad')")
    assert any(line["event"] == "task failed: x" for line in lines)

