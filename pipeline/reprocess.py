"""Which sessions a reprocessing batch reruns: Temporal visibility, then the bucket's records.

Visibility (the search attributes every session keeps current) answers fast and exactly,
but only for sessions within the namespace's retention. Older sessions exist only as
``sessions/{id}/result.json`` / ``error.json``, so when the selection reaches back further
than the retention (or has no start at all) those records are read too. A session whose
latest outcome no longer matches (a later rerun succeeded) is skipped, not rerun.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    WorkflowHandle,
)
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes

from pipeline.config import Settings
from pipeline.domain.contracts import BatchCounts, ReprocessRequest, Selected, Selection
from pipeline.domain.drop import session_id_of_workflow
from pipeline.domain.errors import NON_RETRYABLE_CODES
from pipeline.domain.layout import SESSIONS_PREFIX, SessionLayout
from pipeline.domain.markdown import code
from pipeline.domain.records import ErrorRecord, SessionRecord, parse_record
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows import attributes
from pipeline.workflows.priorities import BATCH_PRIORITY
from pipeline.workflows.reprocess import BATCH_WORKFLOW_PREFIX, ReprocessWorkflow

log = get_logger()

RECORD_NAMES = ("result.json", "error.json")


def window(selection: Selection, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The selection's start-time window; ``within_s`` counts back from ``now``."""
    since = selection.since
    if selection.within_s is not None:
        moving = now - timedelta(seconds=selection.within_s)
        since = moving if since is None else max(since, moving)
    return since, selection.until


def visibility_query(selection: Selection, now: datetime) -> str:
    since, until = window(selection, now)
    status = "failed" if selection.error_codes or selection.retryable_only else selection.status
    return attributes.sessions_query(
        status=status,
        kind=selection.kind,
        preset=selection.preset,
        error_codes=selection.error_codes,
        excluded_codes=NON_RETRYABLE_CODES if selection.retryable_only else (),
        since=since,
        until=until,
        key_prefix=selection.key_prefix,
    )


def record_matches(
    selection: Selection, record: SessionRecord | ErrorRecord, now: datetime
) -> bool:
    """Whether a session's latest record (result.json or error.json) fits the selection."""
    failure = record if isinstance(record, ErrorRecord) else None
    wanted_status = (
        "failed" if selection.error_codes or selection.retryable_only else selection.status
    )
    since, until = window(selection, now)
    when = _recorded_at(record)
    checks = [
        wanted_status is None or record.status == wanted_status,
        not selection.error_codes
        or (failure is not None and failure.code in selection.error_codes),
        not selection.retryable_only or (failure is not None and failure.retryable is True),
        selection.kind is None or record.kind == selection.kind,
        selection.preset is None or record.preset == selection.preset,
        selection.key_prefix is None or (record.drop_key or "").startswith(selection.key_prefix),
        since is None or (when is not None and when >= since),
        until is None or (when is not None and when < until),
    ]
    return all(checks)


def _recorded_at(record: SessionRecord | ErrorRecord) -> datetime | None:
    """When a result was published or a failure recorded (a cancellation has neither)."""
    return record.finished_at if isinstance(record, SessionRecord) else record.failed_at


async def retention(client: Client) -> timedelta:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def select(
    client: Client, store: ObjectStore, selection: Selection, now: datetime | None = None
) -> Selected:
    """The sessions ``selection`` names, each once, oldest first, at most ``limit``."""
    now = now or datetime.now(UTC)
    found: dict[str, datetime] = {}
    async for execution in client.list_workflows(visibility_query(selection, now)):
        session_id = session_id_of_workflow(execution.id)
        found.setdefault(session_id, execution.start_time)
    sources = ["visibility"]
    since, _ = window(selection, now)
    if since is None or since < now - await retention(client):
        sources.append("records")
        async for session_id, record in session_records(store):
            if session_id not in found and record_matches(selection, record, now):
                found[session_id] = _recorded_at(record) or now
    chosen: list[str] = []
    skipped: list[str] = []
    redone_matters = (
        selection.status in ("failed", "cancelled")
        or bool(selection.error_codes)
        or selection.retryable_only
    )
    for session_id in sorted(found, key=lambda s: found[s]):
        if len(chosen) >= selection.limit:
            break
        if redone_matters and await _succeeded_since(store, session_id):
            skipped.append(session_id)
        else:
            chosen.append(session_id)
    log.info("sessions_selected", selected=len(chosen), skipped=len(skipped), sources=sources)
    return Selected(session_ids=chosen, skipped=skipped, sources=sources)


async def session_records(
    store: ObjectStore,
) -> AsyncIterator[tuple[str, SessionRecord | ErrorRecord]]:
    """``(session id, latest record)`` for every session in the bucket."""
    latest: dict[str, str] = {}
    async for meta in store.list_keys(SESSIONS_PREFIX):
        parts = meta.key[len(SESSIONS_PREFIX) :].split("/")
        # result.json wins over error.json: the session succeeded at some point.
        wins = len(parts) == 2 and (parts[1] == "result.json" or parts[0] not in latest)
        if wins and parts[1] in RECORD_NAMES:
            latest[parts[0]] = meta.key
    for session_id, key in latest.items():
        document = await store.get_json(key)
        try:
            record = parse_record(document)
        except ValidationError as exc:
            log.warning("record_unreadable", key=key, errors=exc.error_count())
            continue
        yield session_id, record


async def _succeeded_since(store: ObjectStore, session_id: str) -> bool:
    """A result.json whose latest run succeeded: an earlier failure was already redone."""
    document = await store.get_json(SessionLayout(session_id).result)
    if document is None:
        return False
    runs = SessionRecord.model_validate(document).runs
    return not runs or runs[-1].status == "succeeded"


def new_batch_id(now: datetime | None = None) -> str:
    """``b{yyyymmddHHMMSS}{4 hex}``: sorts by time, short enough for generation folders."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"b{stamp}{secrets.token_hex(2)}"


def describe_batch(
    selection: Selection, overrides: dict[str, Any], quote: Callable[[str], str] = str
) -> str:
    """One line naming what a batch reruns, for the schedule list and (``quote`` being
    ``markdown.code``, each ``name=value`` a code span) the Temporal UI's Markdown."""
    parts = [
        quote(f"{name}={value}")
        for name, value in selection.model_dump(exclude_defaults=True, mode="json").items()
    ]
    changes = ", ".join(quote(f"{k}={v}") for k, v in sorted(overrides.items()))
    text = "reprocess " + (" ".join(parts) or "every session")
    return text + (f" · set {changes}" if changes else "")


@dataclass(frozen=True)
class BatchStart:
    """How ``ReprocessWorkflow`` is started, the same by the CLI and by schedules."""

    workflow_id: str
    task_queue: str
    search_attributes: TypedSearchAttributes
    static_summary: str
    priority: Priority

    @classmethod
    def of(cls, settings: Settings, request: ReprocessRequest, workflow_id: str) -> BatchStart:
        return cls(
            workflow_id=workflow_id,
            task_queue=settings.temporal_task_queue,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(attributes.PIPELINE_ROLE, "reprocess")]
            ),
            static_summary=describe_batch(request.selection, request.overrides, code),
            priority=Priority(priority_key=BATCH_PRIORITY),
        )


async def start_batch(
    client: Client, settings: Settings, request: ReprocessRequest
) -> WorkflowHandle[ReprocessWorkflow, BatchCounts]:
    start = BatchStart.of(settings, request, BATCH_WORKFLOW_PREFIX + request.batch_id)
    return await client.start_workflow(
        ReprocessWorkflow.run,
        request,
        id=start.workflow_id,
        task_queue=start.task_queue,
        search_attributes=start.search_attributes,
        static_summary=start.static_summary,
        priority=start.priority,
    )


def batch_schedule(
    settings: Settings,
    name: str,
    request: ReprocessRequest,
    *,
    cron: str | None,
    every: timedelta | None,
    overlap: ScheduleOverlapPolicy,
    catchup_window: timedelta,
    note: str = "",
    time_zone: str | None = None,
) -> Schedule:
    """A schedule starting a batch (``reprocess-{name}-{time}``) on a cron or an interval;
    the cron counts in ``time_zone`` (an IANA name; ``None``: UTC, or the cron line's own
    ``CRON_TZ=``)."""
    start = BatchStart.of(settings, request, BATCH_WORKFLOW_PREFIX + name)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReprocessWorkflow.run,
            request,
            id=start.workflow_id,
            task_queue=start.task_queue,
            typed_search_attributes=start.search_attributes,
            static_summary=start.static_summary,
            priority=start.priority,
        ),
        spec=ScheduleSpec(
            cron_expressions=[cron] if cron else [],
            intervals=[ScheduleIntervalSpec(every=every)] if every else [],
            time_zone_name=time_zone,
        ),
        policy=SchedulePolicy(overlap=overlap, catchup_window=catchup_window),
        state=ScheduleState(note=note or describe_batch(request.selection, request.overrides)),
    )
