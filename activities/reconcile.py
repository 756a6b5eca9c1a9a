"""The reconcile activity: list ``inbox/``, start drops nobody started, report orphans."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from temporalio import activity

from pipeline.domain.contracts import ReconcileReport, ReconcileRequest
from pipeline.domain.drop import DropRef
from pipeline.domain.layout import INBOX_PREFIX, SessionLayout
from pipeline.ingest.reconcile import REPORT_LIMIT, InboxObject, plan_inbox
from pipeline.ingest.starter import Starter, StartOutcome
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import RECONCILE_INBOX

log = get_logger()

SOURCE = "reconcile"
CONCURRENCY = 16


class ReconcileActivities:
    def __init__(self, store: ObjectStore, starter: Starter) -> None:
        self.store = store
        self.starter = starter

    @activity.defn(name=RECONCILE_INBOX.name)
    async def reconcile_inbox(self, request: ReconcileRequest) -> ReconcileReport:
        """Start every inbox drop that has neither a workflow nor a ``sessions/`` folder.

        Idempotent: the starter attaches to running drops and refuses finished ones, so a
        retried pass changes nothing a first one did.
        """
        objects = [item async for item in self._inbox()]
        plan = plan_inbox(
            objects,
            bucket=self.store.bucket,
            now=datetime.now(UTC),
            grace=timedelta(seconds=request.orphan_grace_s),
        )
        report = ReconcileReport(
            manifests=len(plan.drops),
            orphans=len(plan.orphans),
            orphan_keys=plan.orphans[:REPORT_LIMIT],
            misplaced=plan.misplaced[:REPORT_LIMIT],
        )
        gate = asyncio.Semaphore(CONCURRENCY)

        async def reconcile(drop: DropRef) -> None:
            async with gate:
                activity.heartbeat(drop.manifest_key)
                if await self._session_exists(drop.session_id):
                    # Its session ran; the same bytes back in the inbox are a new upload.
                    again = await self.starter.start_if_uploaded_again(drop, source=SOURCE)
                    if again is StartOutcome.STARTED:
                        report.started += 1
                    else:
                        report.in_sessions += 1
                elif await self.starter.start(drop, source=SOURCE) is StartOutcome.STARTED:
                    report.started += 1
                    if len(report.started_sessions) < REPORT_LIMIT:
                        report.started_sessions.append(drop.session_id)
                else:
                    report.already_finished += 1

        await asyncio.gather(*(reconcile(drop) for drop in plan.drops))
        for key in plan.orphans:
            log.warning("orphan_media", key=key, grace_s=request.orphan_grace_s)
        for reason in plan.misplaced:
            log.warning("drop_refused", reason=reason)
        log.info(
            "reconciled",
            **report.model_dump(exclude={"started_sessions", "orphan_keys", "misplaced"}),
            misplaced=len(plan.misplaced),
        )
        return report

    async def _inbox(self) -> AsyncIterator[InboxObject]:
        # ObjectStore.list_keys drops LastModified, which the orphan grace period needs.
        paginator = self.store.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.store.bucket, Prefix=INBOX_PREFIX):
            for item in page.get("Contents", []):
                yield InboxObject(item["Key"], item["ETag"], item["LastModified"], item["Size"])

    async def _session_exists(self, session_id: str) -> bool:
        listing = await self.store.client.list_objects_v2(
            Bucket=self.store.bucket, Prefix=SessionLayout(session_id).root, MaxKeys=1
        )
        return bool(listing.get("KeyCount") or listing.get("Contents"))
