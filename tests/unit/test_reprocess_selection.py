"""Reprocessing selection: visibility queries and record matching (pipeline.reprocess)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from pipeline.config import load_settings
from pipeline.domain.contracts import ReprocessRequest, Selection
from pipeline.domain.records import ErrorRecord, SessionRecord
from pipeline.reprocess import (
    batch_schedule,
    describe_batch,
    record_matches,
    visibility_query,
    window,
)

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def test_a_nightly_retryable_selection_queries_failed_sessions_of_the_last_day() -> None:
    query = visibility_query(Selection(retryable_only=True, within_s=86_400), NOW)
    assert query.startswith("PipelineRole = 'session' AND SessionStatus = 'failed' AND ")
    assert "ErrorCode NOT IN ('bad_config', 'bad_input', " in query
    assert "'separation_unavailable'" in query
    assert "StartTime >= '2026-11-29T02:00:00+00:00'" in query


def test_filters_become_clauses_and_quotes_are_escaped() -> None:
    selection = Selection(
        status="succeeded",
        kind="i2v",
        preset="wan22-i2v-fp8",
        key_prefix="inbox/it's/",
        until=NOW,
        error_codes=("comfy_timeout", "oom"),
    )
    query = visibility_query(selection, NOW)
    assert "SessionStatus = 'failed'" in query  # An error code implies a failure.
    assert "DropKind = 'i2v' AND DropPreset = 'wan22-i2v-fp8'" in query
    assert "ErrorCode IN ('comfy_timeout', 'oom')" in query
    assert "DropKey STARTS_WITH 'inbox/it\\'s/'" in query
    assert "StartTime < '2026-11-30T02:00:00+00:00'" in query


def test_the_moving_window_never_widens_a_fixed_start() -> None:
    fixed = NOW - timedelta(hours=1)
    assert window(Selection(since=fixed, within_s=86_400), NOW) == (fixed, None)
    assert window(Selection(within_s=60), NOW) == (NOW - timedelta(seconds=60), None)


def test_records_match_like_the_query_for_sessions_past_retention() -> None:
    failed = ErrorRecord(
        status="failed",
        session_id="a",
        workflow_id="session-a",
        stage="generating",
        code="comfy_timeout",
        message="ComfyUI prompt did not finish",
        retryable=True,
        kind="s2v",
        drop_key="inbox/a/manifest.json",
        failed_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
    )
    assert record_matches(Selection(retryable_only=True, within_s=86_400), failed, NOW)
    assert record_matches(Selection(kind="s2v", key_prefix="inbox/a"), failed, NOW)
    assert not record_matches(Selection(kind="i2v"), failed, NOW)
    assert not record_matches(Selection(error_codes=("oom",)), failed, NOW)
    assert not record_matches(Selection(within_s=3600), failed, NOW)
    # --retryable reads the recorded flag, whatever the code.
    unavailable = failed.model_copy(update={"code": "separation_unavailable", "retryable": False})
    assert not record_matches(Selection(retryable_only=True), unavailable, NOW)
    assert record_matches(Selection(error_codes=("separation_unavailable",)), unavailable, NOW)
    succeeded = SessionRecord(
        status="succeeded",
        session_id="b",
        workflow_id="session-b",
        run="r1",
        kind="i2v",
        preset="p",
        manifest={"kind": "i2v"},
        objects={},
        urls={},
        frames=81,
        duration_s=5.06,
        timings_s={},
        versions={},
        finished_at=NOW,
    )
    assert record_matches(Selection(status="succeeded", kind="i2v", preset="p"), succeeded, NOW)
    assert not record_matches(Selection(status="failed"), succeeded, NOW)
    assert not record_matches(Selection(retryable_only=True), succeeded, NOW)


def test_a_batch_describes_its_selection_and_overrides() -> None:
    request = ReprocessRequest(
        batch_id="b1", selection=Selection(status="failed", kind="i2v"), overrides={"steps": 6}
    )
    assert describe_batch(request.selection, request.overrides) == (
        "reprocess status=failed kind=i2v · set steps=6"
    )


def test_a_schedule_starts_the_batch_workflow_with_the_request() -> None:
    request = ReprocessRequest(batch_id="", selection=Selection(retryable_only=True))
    schedule = batch_schedule(
        load_settings(),
        "nightly",
        request,
        cron="0 2 * * *",
        every=None,
        overlap=ScheduleOverlapPolicy.SKIP,
        catchup_window=timedelta(hours=1),
    )
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id) == ("ReprocessWorkflow", "reprocess-nightly")
    assert action.args == [request]
