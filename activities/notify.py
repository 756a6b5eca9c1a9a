"""The completion callback: one signed POST per session end (Standard Webhooks).

Payload: ``{"type": "session.succeeded" | "session.failed" | "session.cancelled",
"timestamp": ISO 8601, "data": result.json or error.json}``; ``result.json`` carries
public URLs when ``R2_PUBLIC_URL`` is set, presigned ones otherwise. A 2xx answer
delivers it; anything else (or no answer) is a retryable ``CallbackRejected`` whose
detail names the try (``attempt``), retried by the activity's policy with backoff
(``NOTIFY_POLICY``) inside the session's own ``CallbackWorkflow``
(``pipeline.workflows.callback``), off the session's path: its outcome never depends on it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from temporalio import activity

from activities.edge import edge
from pipeline import callbacks
from pipeline.config import Settings
from pipeline.domain.contracts import NotifyInput, NotifyOutput
from pipeline.domain.errors import CallbackRejected
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import NOTIFY_COMPLETION

log = get_logger()


class NotifyActivities:
    def __init__(self, store: ObjectStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    @activity.defn(name=NOTIFY_COMPLETION.name)
    @edge
    async def notify_completion(self, request: NotifyInput) -> NotifyOutput:
        url = request.callback_url or (
            str(self.settings.callback_url) if self.settings.callback_url else None
        )
        if url is None:
            return NotifyOutput(delivered=False)
        record = await self.store.get_json(request.record_key)
        body = callbacks.encode(
            {
                "type": f"session.{request.status}",
                "timestamp": datetime.now(UTC).isoformat(),
                "data": record or {"session_id": request.session_id, "status": request.status},
            }
        )
        sent = callbacks.headers(
            self.settings.callback_key, request.message_id, int(time.time()), body
        )
        attempt = activity.info().attempt
        try:
            async with httpx.AsyncClient(timeout=self.settings.callback_timeout_s) as http:
                answer = await http.post(url, content=body, headers=sent)
        except httpx.HTTPError as exc:
            raise CallbackRejected(
                f"callback to {_origin(url)} failed: {exc!r}",
                detail={"url": _origin(url), "attempt": attempt},
            ) from exc
        if not answer.is_success:
            raise CallbackRejected(
                f"callback to {_origin(url)} answered {answer.status_code}",
                detail={"url": _origin(url), "status_code": answer.status_code, "attempt": attempt},
            )
        log.info("callback_delivered", url=_origin(url), status_code=answer.status_code)
        return NotifyOutput(delivered=True, status_code=answer.status_code, attempts=attempt)


def _origin(url: str) -> str:
    """Scheme, host and path only: a callback URL's query may carry a token."""
    parts = httpx.URL(url)
    return f"{parts.scheme}://{parts.host}{f':{parts.port}' if parts.port else ''}{parts.path}"
