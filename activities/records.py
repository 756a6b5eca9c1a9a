"""The session's records in the bucket: ``plan.json``, ``result.json`` and ``error.json``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata

from temporalio import activity
from temporalio.api.enums.v1 import EventType

from activities.edge import edge
from pipeline.domain.contracts import (
    CancellationInput,
    FailureInput,
    FailureRecorded,
    PlanInput,
    PublishInput,
    PublishOutput,
)
from pipeline.domain.cost import Cost, GpuUse, PriceTable, measure, price, total
from pipeline.domain.frames.plan import FramePlan, plan_for
from pipeline.domain.layout import SessionLayout
from pipeline.domain.records import (
    ErrorRecord,
    RunRecord,
    SessionRecord,
    parse_record,
    runs_so_far,
)
from pipeline.domain.rendering import SegmentRender
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import (
    ALL,
    PLAN_FRAMES,
    PUBLISH_RESULT,
    RECORD_CANCELLATION,
    RECORD_FAILURE,
    QueueKind,
)
from workflows_comfy.presets import unused_settings

log = get_logger()

GPU_STAGES = frozenset(spec.name for spec in ALL if spec.queue is QueueKind.GPU)
"""The GPU activities' names in ``timings_s``: not CPU seconds (``pipeline.domain.cost``)."""


class RecordActivities:
    def __init__(self, store: ObjectStore, prices: PriceTable | None = None) -> None:
        """``prices``: the configured price table (``Settings.prices``); None: nothing priced."""
        self.store = store
        self.prices = prices or PriceTable()

    @activity.defn(name=PLAN_FRAMES.name)
    @edge
    async def plan_frames(self, request: PlanInput) -> FramePlan:
        plan = plan_for(request.manifest, request.audio_s)
        unused = unused_settings(request.manifest)
        if unused:
            plan = plan.model_copy(update={"notes": (*plan.notes, *unused)})
            log.warning("settings_unused", notes=unused)
        document = plan.model_dump(mode="json")
        if request.image is not None:
            document["image"] = request.image.model_dump(mode="json")
        if request.audio is not None:
            document["audio"] = request.audio.model_dump(mode="json")
        await self.store.put_json(SessionLayout(request.session_id).plan, document)
        log.info("planned", segments=len(plan.segments), frames=plan.total_frames)
        return plan

    @activity.defn(name=PUBLISH_RESULT.name)
    @edge
    async def publish_result(self, request: PublishInput) -> PublishOutput:
        """``result.json`` for this run, listing every run of the session in ``runs``.

        Its URLs are minted now: those of the outputs ``PUBLIC_OUTPUTS`` lists are public
        under ``R2_PUBLIC_URL`` (named in ``public``), the others presigned, which stop
        working at the ``expires_at`` noted beside them (the earliest moment: the clock is
        read before the first is signed).

        The plan is copied into the run's ``generations/{run}/``, so a later rerun with other
        parameters leaves each run's record whole.
        """
        layout = SessionLayout(request.session_id)
        artifacts = dict(request.artifacts)
        if "plan" in artifacts:
            kept_plan = layout.generation(request.run) + "plan.json"
            await self.store.copy(artifacts["plan"], kept_plan)
            artifacts["plan"] = kept_plan
        keys = {
            **{f"input_{role}": key for role, key in request.inputs.items()},
            **artifacts,
        }
        links = await self.store.links(keys)
        urls, expires = links.urls, links.expires_at
        earlier = await self._runs(layout)
        cost = await self._cost(
            layout,
            earlier,
            request.renders,
            request.timings_s,
            request.other_gpu,
            moved=keys.values(),
        )
        finished = datetime.now(UTC)
        run = RunRecord(
            run=request.run,
            status="succeeded",
            workflow_id=request.workflow_id,
            changed=request.changed,
            combined=keys.get("combined"),
            combined_url=urls.get("combined"),
            expires_at=expires if "combined" in urls and "combined" not in links.public else None,
            finished_at=finished,
            cost=cost,
        )
        runs = [*earlier, run]
        record = SessionRecord(
            status="succeeded",
            session_id=request.session_id,
            workflow_id=request.workflow_id,
            run=request.run,
            kind=request.manifest.kind.value,
            preset=request.preset,
            drop_key=request.drop_key,
            manifest=request.manifest.model_dump(mode="json"),
            objects=keys,
            urls=urls,
            public=links.public,
            expires_at=expires,
            frames=request.frames,
            duration_s=request.duration_s,
            timings_s=request.timings_s,
            stand_ins=request.stand_ins,
            quality=list(request.quality) if request.quality is not None else None,
            renders=list(request.renders),
            provenance=request.provenance,
            versions=versions(),
            finished_at=finished,
            runs=runs,
            cost=cost,
            session_cost=total(r.cost for r in runs if r.cost is not None),
        )
        await self.store.put_json(layout.result, record.model_dump(mode="json"))
        self._count(cost, record.kind, record.preset)
        if request.stand_ins:
            await self._label_plan(layout, request.stand_ins)
        signed = datetime.now(UTC)
        urls["result"] = await self.store.url_for(layout.result)  # a record: never public
        log.info("published", frames=request.frames)
        return PublishOutput(
            result_key=layout.result,
            urls=urls,
            public=links.public,
            expires_at=expires or self.store.url_expiry(signed),
        )

    async def _label_plan(self, layout: SessionLayout, stand_ins: dict[str, str]) -> None:
        """Say in ``plan.json`` too which stages a stand-in did (known only after planning)."""
        plan = await self.store.get_json(layout.plan)
        if isinstance(plan, dict):
            await self.store.put_json(layout.plan, {**plan, "stand_ins": stand_ins})

    @activity.defn(name=RECORD_FAILURE.name)
    @edge
    async def record_failure(self, request: FailureInput) -> FailureRecorded:
        """``error.json``; a failed rerun of a session that succeeded before is listed in its
        ``result.json`` runs instead, leaving that result in place."""
        layout = SessionLayout(request.session_id)
        earlier = await self._runs(layout)
        cost = await self._cost(
            layout,
            earlier,
            request.renders,
            request.timings_s,
            request.other_gpu,
            moved=[render.key for render in request.renders],
        )
        failed = datetime.now(UTC)
        run = RunRecord(
            run=request.run,
            status="failed",
            workflow_id=request.workflow_id,
            changed=request.changed,
            code=request.code,
            message=request.message,
            finished_at=failed,
            cost=cost,
        )
        runs = [*earlier, run]
        self._count(cost, request.kind, request.preset)
        result = await self._read(layout.result)
        if request.run is not None and isinstance(result, SessionRecord):
            rerun = result.model_copy(
                update={
                    "runs": runs,
                    "session_cost": total(r.cost for r in runs if r.cost is not None),
                }
            )
            await self.store.put_json(layout.result, rerun.model_dump(mode="json"))
            log.warning("rerun_failed", code=request.code, stage=request.stage)
            return FailureRecorded(key=layout.result)
        record = ErrorRecord(
            status="failed",
            session_id=request.session_id,
            workflow_id=request.workflow_id,
            stage=request.stage,
            code=request.code,
            message=request.message,
            retryable=request.retryable,
            detail=request.detail,
            kind=request.kind,
            preset=request.preset,
            drop_key=request.drop_key,
            failed_at=failed,
            runs=runs,
            cost=cost,
        )
        await self.store.put_json(layout.error, record.model_dump(mode="json"))
        log.warning("session_failed", code=request.code, stage=request.stage)
        return FailureRecorded(key=layout.error)

    async def _cost(
        self,
        layout: SessionLayout,
        earlier: list[RunRecord],
        renders: Iterable[SegmentRender],
        timings_s: dict[str, float],
        other_gpu: Iterable[GpuUse],
        *,
        moved: Iterable[str],
    ) -> Cost:
        """The run's usage, priced (definitions: ``pipeline.domain.cost``): the session's
        prefix is listed now, before this run's record is written."""
        sizes = {meta.key: meta.size async for meta in self.store.list_keys(layout.root)}
        counted = sum(r.cost.usage.bytes_stored or 0 for r in earlier if r.cost is not None)
        usage = measure(
            renders,
            timings_s,
            gpu_stages=GPU_STAGES,
            other_gpu=other_gpu,
            bytes_stored=max(sum(sizes.values()) - counted, 0),
            bytes_moved=sum(sizes.get(key, 0) for key in set(moved)),
        )
        return price(usage, self.prices)

    def _count(self, cost: Cost, kind: str | None, preset: str | None) -> None:
        """Prometheus: ``pipeline_gpu_seconds`` {kind, preset, gpu_class} and
        ``pipeline_session_cost`` {kind, preset, currency} (when priced), one observation per
        run; their ``_sum`` series are the running totals."""
        meter = activity.metric_meter()
        labels = {"kind": kind or "", "preset": preset or ""}
        seconds = meter.create_histogram_float(
            "pipeline_gpu_seconds", "GPU seconds a run used, per GPU class", "s"
        )
        for name, used in cost.usage.gpu_s_by_class.items():
            seconds.with_additional_attributes({**labels, "gpu_class": name}).record(used)
        if cost.amounts.total is not None:
            meter.create_histogram_float(
                "pipeline_session_cost", "What a run cost, in the price table's currency"
            ).with_additional_attributes({**labels, "currency": cost.currency}).record(
                cost.amounts.total
            )

    async def _runs(self, layout: SessionLayout) -> list[RunRecord]:
        """Every run recorded so far: result.json's, else error.json's."""
        for key in (layout.result, layout.error):
            record = await self._read(key)
            if record is not None:
                return runs_so_far(record)
        return []

    async def _read(self, key: str) -> SessionRecord | ErrorRecord | None:
        document = await self.store.get_json(key)
        return None if document is None else parse_record(document)

    @activity.defn(name=RECORD_CANCELLATION.name)
    @edge
    async def record_cancellation(self, request: CancellationInput) -> FailureRecorded:
        """``error.json`` with status ``cancelled``: who (the identity Temporal recorded for
        the cancel request: ``user@host (pipeline cancel)``, the UI's user, an API client),
        why, at which stage, and the keys of what was made before."""
        layout = SessionLayout(request.session_id)
        by, cause = await _cancel_request(request.workflow_id)
        reason = request.reason or cause
        record = ErrorRecord(
            status="cancelled",
            session_id=request.session_id,
            workflow_id=request.workflow_id,
            stage=request.stage,
            code="cancelled",
            message=f"cancelled by {by or 'an unknown client'}" + (f": {reason}" if reason else ""),
            cancelled_by=by,
            reason=reason,
            retryable=True,
            kept=request.kept,
            cancelled_at=datetime.now(UTC),
        )
        await self.store.put_json(layout.error, record.model_dump(mode="json"))
        log.info("session_cancelled", stage=request.stage, by=by)
        return FailureRecorded(key=layout.error)


async def _cancel_request(workflow_id: str) -> tuple[str | None, str]:
    """Identity and cause of the cancel request in the session's history."""
    handle = activity.client().get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            attributes = event.workflow_execution_cancel_requested_event_attributes
            return attributes.identity or None, attributes.cause
    return None, ""


def versions() -> dict[str, str]:
    names = {"pipeline": "wan-pipeline", "temporalio": "temporalio"}
    return {label: metadata.version(dist) for label, dist in names.items()}
