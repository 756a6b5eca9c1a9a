"""Doctor checks of the R2 → Cloudflare Queue event path, through Cloudflare's REST API.

``GET /accounts/{a}/queues/{q}`` (the queue and its consumers) and ``GET /accounts/{a}/
event_notifications/r2/{bucket}/configuration/queues/{q}`` (the bucket's rules for it).
"""

from __future__ import annotations

from typing import Any

import httpx

from pipeline.config import Settings
from pipeline.doctor.check import TIMEOUT_S, Check, failed, passed
from pipeline.doctor.storage import covers_inbox_manifests, rule_fix
from pipeline.domain.errors import QueueApiError
from pipeline.ingest.r2_queue import cloudflare_result


async def r2_checks(settings: Settings) -> list[Check]:
    account, queue_id, token = settings.cf_account_id, settings.cf_queue_id, settings.cf_api_token
    if not (account and queue_id and token):
        return [
            failed(
                "event queue",
                "CF_ACCOUNT_ID, CF_QUEUE_ID or CF_API_TOKEN is unset",
                "set them (deploy/r2/README.md)",
            )
        ]
    base = f"{settings.cf_api_base}/accounts/{account}"
    rules_url = (
        f"{base}/event_notifications/r2/{settings.r2_bucket_name}/configuration/queues/{queue_id}"
    )
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    async with httpx.AsyncClient(headers=headers, timeout=TIMEOUT_S) as http:
        try:
            queue = await _get(http, f"{base}/queues/{queue_id}")
            rules = await _get(http, rules_url)
        except (httpx.HTTPError, QueueApiError) as exc:
            return [
                failed(
                    "event queue",
                    str(exc),
                    "check CF_QUEUE_ID and that CF_API_TOKEN has Queues Edit and R2 Read",
                )
            ]
    name = str(queue.get("queue_name") or queue_id)
    if any(c.get("type") == "http_pull" for c in queue.get("consumers") or []):
        pull = passed("event queue", f"{name} has an HTTP pull consumer")
    else:
        pull = failed(
            "event queue",
            f"{name} has no HTTP pull consumer",
            f"wrangler queues consumer http add {name}",
        )
    covered = any(
        "PutObject" in (rule.get("actions") or [])
        and covers_inbox_manifests(rule.get("prefix"), rule.get("suffix"))
        for rule in rules.get("rules") or []
    )
    rule = (
        passed("notification rule", f"object-create rule for inbox manifests → {name}")
        if covered
        else failed(
            "notification rule", f"no rule sends new inbox manifests to {name}", rule_fix("r2")
        )
    )
    return [pull, rule]


async def _get(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    result = cloudflare_result(await http.get(url))
    return result if isinstance(result, dict) else {}
