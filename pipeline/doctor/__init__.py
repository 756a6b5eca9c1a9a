"""``pipeline doctor``: check a configured deployment end to end, one line per check.

The embedded stack's processes and their restarts (when one ran from ``PIPELINE_STATE_DIR``),
the room its store needs on that disk, its workers' metrics ports, storage credentials,
bucket and presigned links, the event transport (SeaweedFS's filer, queue and notification
rule, or the webhook secret), Temporal (namespace, search attributes, workers polling both task
queues, the reconcile schedule) and ComfyUI's readiness. Every failing line says what to do.

``check`` is one line; ``stack``, ``storage`` (bucket, S3 → SQS), ``cloudflare`` (R2 →
Cloudflare Queue) and ``temporal`` hold the checks of each part.
"""

from __future__ import annotations

import asyncio

import httpx

from pipeline.comfy.client import ComfyClient
from pipeline.config import Settings
from pipeline.doctor.check import TIMEOUT_S, Check, failed, passed
from pipeline.doctor.cloudflare import r2_checks
from pipeline.doctor.stack import (
    disk_check,
    embedded,
    filer_check,
    metrics_checks,
    stack_checks,
)
from pipeline.doctor.storage import sqs_checks, storage_checks
from pipeline.doctor.temporal import temporal_checks
from pipeline.domain.errors import PipelineError
from pipeline.domain.layout import INBOX_PREFIX, MANIFEST_NAME
from workflows_comfy.servable import servable

__all__ = ["Check", "run_checks"]


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a drop travels through the deployment; never raises."""
    checks = stack_checks(settings)
    if embedded(settings):
        checks.append(disk_check(settings))
    checks += await metrics_checks(settings)
    checks += await asyncio.to_thread(storage_checks, settings)
    if settings.event_source == "seaweedfs":
        checks.append(await filer_check(settings))
    elif settings.event_source == "sqs":
        checks += await asyncio.to_thread(sqs_checks, settings)
    elif settings.event_source == "r2":
        checks += await r2_checks(settings)
    else:
        checks += webhook_checks(settings)
    checks += await temporal_checks(settings)
    checks.append(await comfy_check(settings))
    return checks


def webhook_checks(settings: Settings) -> list[Check]:
    secret = settings.webhook_secret
    target = f"http://HOST:{settings.webhook_port}/events for {INBOX_PREFIX}*{MANIFEST_NAME}"
    return [
        passed("webhook secret", "set")
        if secret is not None and secret.get_secret_value()
        else failed(
            "webhook secret",
            "WEBHOOK_SECRET is not set",
            "set it, and the same value as the store's webhook auth_token",
        ),
        passed("notification rule", f"not checkable from here: the store must POST to {target}"),
    ]


async def comfy_check(settings: Settings) -> Check:
    """Which ComfyUI answers at ``COMFYUI_URL`` and the presets its nodes and models serve."""
    fix = "check COMFYUI_URL and that ComfyUI has finished starting"
    try:
        async with (
            httpx.AsyncClient(timeout=TIMEOUT_S) as http,
            ComfyClient(settings.comfy_url, http=http) as comfy,
        ):
            server = await comfy.server_info()
            serving = servable(await comfy.object_info())
    except PipelineError as exc:
        return failed("comfyui", f"{settings.comfy_url}: {exc.message}", fix)
    presets = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(serving.items()))
    return passed(
        "comfyui",
        f"{server.describe()} at {settings.comfy_url}, serves {presets or 'no preset'}",
    )
