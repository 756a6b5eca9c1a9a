"""The session's records in the bucket: ``plan.json``, ``result.json`` and ``error.json``."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata

from temporalio import activity

from activities.edge import edge
from pipeline.domain.contracts import (
    FailureInput,
    FailureRecorded,
    PlanInput,
    PublishInput,
    PublishOutput,
)
from pipeline.domain.frames.plan import FramePlan, plan_for
from pipeline.domain.layout import SessionLayout
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import PLAN_FRAMES, PUBLISH_RESULT, RECORD_FAILURE

log = get_logger()


class RecordActivities:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @activity.defn(name=PLAN_FRAMES.name)
    @edge
    async def plan_frames(self, request: PlanInput) -> FramePlan:
        plan = plan_for(request.manifest, request.audio_s)
        document = plan.model_dump(mode="json")
        if request.image is not None:
            document["image"] = request.image.model_dump(mode="json")
        await self.store.put_json(SessionLayout(request.session_id).plan, document)
        log.info("planned", segments=len(plan.segments), frames=plan.total_frames)
        return plan

    @activity.defn(name=PUBLISH_RESULT.name)
    @edge
    async def publish_result(self, request: PublishInput) -> PublishOutput:
        layout = SessionLayout(request.session_id)
        keys = {
            **{f"input_{role}": key for role, key in request.inputs.items()},
            **request.artifacts,
        }
        urls = {name: await self.store.url_for(key) for name, key in keys.items()}
        document = {
            "status": "succeeded",
            "session_id": request.session_id,
            "workflow_id": request.workflow_id,
            "run": request.run,
            "kind": request.manifest.kind.value,
            "manifest": request.manifest.model_dump(mode="json"),
            "objects": keys,
            "urls": urls,
            "frames": request.frames,
            "duration_s": request.duration_s,
            "timings_s": request.timings_s,
            "stand_ins": request.stand_ins,
            "versions": versions(),
            "finished_at": datetime.now(UTC).isoformat(),
        }
        await self.store.put_json(layout.result, document)
        if request.stand_ins:
            await self._label_plan(layout, request.stand_ins)
        urls["result"] = await self.store.url_for(layout.result)
        log.info("published", frames=request.frames)
        return PublishOutput(result_key=layout.result, urls=urls)

    async def _label_plan(self, layout: SessionLayout, stand_ins: dict[str, str]) -> None:
        """Say in ``plan.json`` too which stages a stand-in did (known only after planning)."""
        plan = await self.store.get_json(layout.plan)
        if isinstance(plan, dict):
            await self.store.put_json(layout.plan, {**plan, "stand_ins": stand_ins})

    @activity.defn(name=RECORD_FAILURE.name)
    @edge
    async def record_failure(self, request: FailureInput) -> FailureRecorded:
        layout = SessionLayout(request.session_id)
        await self.store.put_json(
            layout.error,
            {
                "status": "failed",
                "session_id": request.session_id,
                "workflow_id": request.workflow_id,
                "stage": request.stage,
                "code": request.code,
                "message": request.message,
                "retryable": request.retryable,
                "detail": request.detail,
                "failed_at": datetime.now(UTC).isoformat(),
            },
        )
        log.warning("session_failed", code=request.code, stage=request.stage)
        return FailureRecorded(key=layout.error)


def versions() -> dict[str, str]:
    names = {"pipeline": "wan-pipeline", "temporalio": "temporalio"}
    return {label: metadata.version(dist) for label, dist in names.items()}
