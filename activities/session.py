"""Activities that move a drop into its session and write the session's records."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import structlog
from temporalio import activity

from activities.edge import edge
from pipeline.contracts import (
    ActivityName,
    FailureInput,
    FailureRecorded,
    PlanInput,
    PublishInput,
    PublishOutput,
    TakeDropInput,
    TakenDrop,
)
from pipeline.drops import normalize_etag
from pipeline.errors import InternalError, ManifestError, MissingMediaError, UnsupportedKindError
from pipeline.frame_plan import FramePlan, plan_i2v, plan_infinitetalk, plan_s2v
from pipeline.layout import SessionLayout, drop_folder, media_key
from pipeline.manifest import Kind, Manifest, parse_manifest
from pipeline.storage import ObjectStore
from workflows_comfy.presets import DEFAULT_PRESET, Preset, preset

SUPPORTED_KINDS = frozenset(Kind)

log: Any = structlog.get_logger()


class SessionActivities:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @activity.defn(name=ActivityName.TAKE_DROP)
    @edge
    async def take_drop(self, request: TakeDropInput) -> TakenDrop:
        """Copy the drop into ``sessions/{id}/inputs/``, then empty it from the inbox.

        Copies happen before any delete, and a retry finds what an earlier attempt
        already copied, so a crash at any point loses nothing.
        """
        drop, layout = request.drop, SessionLayout(request.session_id)
        raw, in_inbox = await self._manifest_bytes(request)
        # A manifest replaced by a newer upload stays: that upload is its own session.
        manifest_move = [(drop.manifest_key, layout.manifest)] if in_inbox else []
        try:
            manifest = parse_manifest(raw)
        except ManifestError:
            await self._move(manifest_move)
            raise
        moves: list[tuple[str, str]] = []
        missing: list[str] = []
        for role, relative in manifest.media().items():
            source, target = media_key(drop.manifest_key, relative), layout.input(relative)
            if await self.store.head(source) is not None:
                moves.append((source, target))
            elif await self.store.head(target) is None:  # else an earlier attempt moved it
                missing.append(f"{role} '{relative}'")
        await self._move(moves + manifest_move)
        if missing:
            raise MissingMediaError(
                f"the manifest names {', '.join(missing)} but no such file was uploaded to "
                f"{drop_folder(drop.manifest_key)}; upload the media first, then the manifest"
            )
        if manifest.kind not in SUPPORTED_KINDS:
            raise UnsupportedKindError(
                f"kind {manifest.kind.value!r} is not yet supported by this pipeline; "
                f"supported: {', '.join(sorted(k.value for k in SUPPORTED_KINDS))}"
            )
        preset_for(manifest)
        log.info("drop_taken", kind=manifest.kind.value, media=len(moves))
        return TakenDrop(
            manifest=manifest,
            inputs={role: layout.input(rel) for role, rel in manifest.media().items()},
        )

    async def _manifest_bytes(self, request: TakeDropInput) -> tuple[bytes, bool]:
        """The triggering manifest, and whether it is still in the inbox (else taken)."""
        drop = request.drop
        inbox = await self.store.head(drop.manifest_key)
        if inbox is not None and normalize_etag(inbox.etag) == drop.etag:
            raw = await self.store.get_bytes(drop.manifest_key)
            if raw is not None:
                return raw, True
        taken = await self.store.get_bytes(SessionLayout(request.session_id).manifest)
        if taken is not None:
            return taken, False
        if inbox is not None:
            raise ManifestError(
                f"{drop.manifest_key} was replaced by a newer upload before this session took "
                "it; the newer upload runs as its own session"
            )
        raise ManifestError(f"{drop.manifest_key} no longer exists: the drop was deleted")

    async def _move(self, moves: list[tuple[str, str]]) -> None:
        """Move objects known to exist in the inbox into the session."""
        for source, target in moves:
            await self.store.copy(source, target)
        # Deletes only after every copy, the manifest last, so a retry can still find it.
        await self.store.delete(*(source for source, _ in moves))

    @activity.defn(name=ActivityName.PLAN_FRAMES)
    @edge
    async def plan_frames(self, request: PlanInput) -> FramePlan:
        plan = plan_for(request.manifest, request.audio_s)
        await self.store.put_json(
            SessionLayout(request.session_id).plan, plan.model_dump(mode="json")
        )
        log.info("planned", segments=len(plan.segments), frames=plan.total_frames)
        return plan

    @activity.defn(name=ActivityName.PUBLISH_RESULT)
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
            "versions": versions(),
            "finished_at": datetime.now(UTC).isoformat(),
        }
        await self.store.put_json(layout.result, document)
        urls["result"] = await self.store.url_for(layout.result)
        log.info("published", frames=request.frames)
        return PublishOutput(result_key=layout.result, urls=urls)

    @activity.defn(name=ActivityName.RECORD_FAILURE)
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


def preset_for(manifest: Manifest) -> Preset:
    """The manifest's model preset (or its kind's default), checked to fit its kind."""
    chosen = preset(manifest.preset or DEFAULT_PRESET[manifest.kind.value])
    if chosen.kind != manifest.kind.value:
        raise ManifestError(
            f"preset {chosen.name!r} is for kind {chosen.kind!r}, not {manifest.kind.value!r}"
        )
    return chosen


def plan_for(manifest: Manifest, audio_s: float | None) -> FramePlan:
    size = {"width": manifest.width, "height": manifest.height}
    if manifest.kind is Kind.I2V:
        return plan_i2v(extensions=manifest.extensions, fps=manifest.effective_fps, **size)
    if audio_s is None:
        raise InternalError(f"kind {manifest.kind.value!r} needs the audio's length to plan")
    if manifest.kind is Kind.INFINITETALK:
        return plan_infinitetalk(audio_s, fps=manifest.effective_fps, **size)
    return plan_s2v(audio_s, fps=manifest.effective_fps, **size)


def versions() -> dict[str, str]:
    names = {"pipeline": "wan-pipeline", "temporalio": "temporalio"}
    return {label: metadata.version(dist) for label, dist in names.items()}
