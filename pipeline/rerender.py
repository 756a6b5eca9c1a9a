"""``pipeline rerender``: one session rendered again from segment K on, as a new run.

The run starts from the session's latest succeeded run (``result.json``): segments before K
are copied from it (``reuse_segments``), K and every later one are rendered again (each
continues the one before it: an I2V extension starts from the last frame, an InfiniteTalk
window from the previous window's frames), then everything is stitched and published as a
new ``generations/{run}/`` beside the earlier ones, listed in ``result.json``'s ``runs``;
nothing is overwritten. It runs at ``BATCH_PRIORITY``, behind fresh drops, as reprocessing
batches do (``pipeline.workflows.priorities``).

Only fields that leave the frame plan as it was may change (``RERENDER_FIELDS``): a new
seed or prompt renders other pictures into the same frames; a new size or length would
make the kept segments fit no longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes

from pipeline.config import Settings
from pipeline.domain.contracts import Rerun, SessionRequest
from pipeline.domain.drop import DropRef, rerender_workflow_id
from pipeline.domain.errors import ManifestError, NoSuchSession
from pipeline.domain.frames.plan import FramePlan
from pipeline.domain.layout import SessionLayout
from pipeline.domain.markdown import code
from pipeline.domain.records import SessionRecord
from pipeline.ingest.starter import session_options
from pipeline.storage import ObjectStore
from pipeline.workflows import attributes
from pipeline.workflows.priorities import BATCH_PRIORITY
from pipeline.workflows.session import SessionWorkflow

RERENDER_FIELDS = ("seed", "prompt", "negative_prompt", "steps", "cfg")
"""The manifest fields ``--set`` may change: none of them moves a frame of the plan."""


@dataclass(frozen=True)
class RerenderStarted:
    session_id: str
    workflow_id: str
    source_run: str
    segment: int
    """1-based, as ``pipeline status`` counts segments."""
    segments: int
    overrides: dict[str, Any]


async def start_rerender(
    client: Client,
    store: ObjectStore,
    settings: Settings,
    session_id: str,
    *,
    segment: int,
    overrides: dict[str, Any],
    now: datetime | None = None,
) -> RerenderStarted:
    """Start the rerender of ``session_id`` from its 1-based ``segment`` on.

    Raises ``NoSuchSession`` when the session has no ``result.json`` or ``plan.json`` (it
    never succeeded, or the id is wrong) and ``ManifestError`` for a ``segment`` past the
    plan's or a field outside ``RERENDER_FIELDS``.
    """
    layout = SessionLayout(session_id)
    changed = sorted(set(overrides) - set(RERENDER_FIELDS))
    if changed:
        raise ManifestError(
            f"--set {', '.join(changed)}: a rerender keeps the frame plan, so it may change "
            f"only {', '.join(RERENDER_FIELDS)}"
        )
    raw_result = await store.get_bytes(layout.result)
    raw_plan = await store.get_bytes(layout.plan)
    if raw_result is None or raw_plan is None:
        raise NoSuchSession(
            f"session {session_id} has no {layout.result}: only a session that succeeded "
            "can be re-rendered (check the id with 'pipeline sessions')"
        )
    try:
        record = SessionRecord.model_validate_json(raw_result)
        plan = FramePlan.model_validate_json(raw_plan)
    except ValidationError as exc:
        raise ManifestError(f"session {session_id}'s records do not parse: {exc}") from None
    count = len(plan.segments)
    if segment > count:
        raise ManifestError(
            f"--segment {segment}: session {session_id} has {count} segment"
            f"{'s' if count != 1 else ''} (1-{count})"
        )
    started = now or datetime.now(UTC)
    workflow_id = rerender_workflow_id(session_id, started)
    options = session_options(settings)
    await client.start_workflow(
        SessionWorkflow.run,
        SessionRequest(
            # Like a batch rerun, from the session's own manifest: the inbox was emptied.
            drop=DropRef(bucket=store.bucket, manifest_key=layout.manifest, etag="rerun"),
            session_id=session_id,
            gpu_task_queue=options["gpu_task_queue"],
            deadline_s=options["deadline_s"],
            media_grace_s=options["media_grace_s"],
            sticky_schedule_to_start_s=options["sticky_schedule_to_start_s"],
            rerun=Rerun(
                batch_id=f"rerender{started.astimezone(UTC):%H%M%S}",
                overrides=overrides,
                from_segment=segment - 1,
                source_run=record.run,
            ),
        ),
        id=workflow_id,
        task_queue=options["task_queue"],
        priority=Priority(priority_key=BATCH_PRIORITY),
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(attributes.SESSION_ID, session_id),
                SearchAttributePair(attributes.PIPELINE_ROLE, "rerun"),
                SearchAttributePair(attributes.SESSION_STATUS, "running"),
            ]
        ),
        static_summary=_summary(session_id, segment, count, overrides),
    )
    return RerenderStarted(
        session_id=session_id,
        workflow_id=workflow_id,
        source_run=record.run,
        segment=segment,
        segments=count,
        overrides=overrides,
    )


def _summary(session_id: str, segment: int, count: int, overrides: dict[str, Any]) -> str:
    """The rerender's summary in the UI (Markdown): the ``--set`` values as code spans."""
    changes = ", ".join(code(f"{k}={v}") for k, v in sorted(overrides.items()))
    return f"rerender of {session_id} from segment {segment}/{count}" + (
        f" · {changes}" if changes else ""
    )
