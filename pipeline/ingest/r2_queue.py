"""R2 event notifications, read from a Cloudflare Queue with the HTTP pull consumer API.

https://developers.cloudflare.com/queues/configuration/pull-consumers/ ::

    POST {api}/accounts/{account}/queues/{queue}/messages/pull
         {"batch_size": ≤100, "visibility_timeout_ms": ...}
      →  {"success": true, "result": {"messages": [{"id", "body", "attempts", "lease_id",
                                                     "metadata": {"CF-Content-Type"}, ...}]}}
    POST {api}/accounts/{account}/queues/{queue}/messages/ack
         {"acks": [{"lease_id"}], "retries": [{"lease_id", "delay_seconds"}]}

Pulls are short polls, so an empty queue is polled every ``R2_POLL_INTERVAL_S``. A message
is acked once every drop it names has a durable workflow; one whose start failed goes back
with a retry delay that grows with its attempts; one that cannot be parsed is logged and
acked so it cannot block the queue. An unacked lease expires and the message is
redelivered, which the deterministic workflow id turns into a no-op. HTTP 429 is honoured
with its ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from time import time
from typing import Any, Self

import httpx

from pipeline.config import EventSourceName, Settings
from pipeline.domain.errors import ConfigError, MalformedEvent, QueueApiError, RateLimited
from pipeline.ingest.events import parse_r2_event
from pipeline.ingest.starter import Starter
from pipeline.logging import get_logger

log = get_logger()

SOURCE: EventSourceName = "r2"
BATCH_SIZE = 100
VISIBILITY_TIMEOUT_MS = 60_000
"""How long a pulled batch is ours: far longer than starting 100 workflows takes."""
RETRY_BASE_S = 5
MAX_RETRY_DELAY_S = 300
ERROR_BACKOFF_S = 1.0
MAX_ERROR_BACKOFF_S = 60.0
_BASE64_CONTENT_TYPES = frozenset({"json", "bytes"})


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def message_body(message: Mapping[str, Any]) -> bytes:
    """The payload of a pulled message: ``json`` and ``bytes`` bodies arrive base64-encoded."""
    body = message.get("body")
    if isinstance(body, dict | list):
        raise MalformedEvent("body is not a string")
    if not isinstance(body, str):
        raise MalformedEvent("message without a body")
    metadata = message.get("metadata")
    content_type = metadata.get("CF-Content-Type") if isinstance(metadata, dict) else None
    # A JSON text is never valid base64 ('{' is outside the alphabet), so a plain JSON
    # body is accepted whatever the metadata claims.
    if content_type in _BASE64_CONTENT_TYPES and not body.lstrip().startswith("{"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedEvent(f"{content_type} body is not base64") from None
    return body.encode()


class R2QueueConsumer:
    def __init__(
        self,
        starter: Starter,
        *,
        api_base: str,
        account_id: str,
        queue_id: str,
        api_token: str,
        poll_interval_s: float,
        batch_size: int = BATCH_SIZE,
        visibility_timeout_ms: int = VISIBILITY_TIMEOUT_MS,
        retry_base_s: int = RETRY_BASE_S,
    ) -> None:
        self.starter = starter
        self.messages_url = f"{api_base}/accounts/{account_id}/queues/{queue_id}/messages"
        self.api_token = api_token
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self.visibility_timeout_ms = visibility_timeout_ms
        self.retry_base_s = retry_base_s

    @classmethod
    def from_settings(cls, settings: Settings, starter: Starter) -> Self:
        if not (settings.cf_account_id and settings.cf_queue_id and settings.cf_api_token):
            raise ConfigError("the R2 source needs CF_ACCOUNT_ID, CF_QUEUE_ID and CF_API_TOKEN")
        return cls(
            starter,
            api_base=settings.cf_api_base,
            account_id=settings.cf_account_id,
            queue_id=settings.cf_queue_id,
            api_token=settings.cf_api_token.get_secret_value(),
            poll_interval_s=settings.r2_poll_interval_s,
        )

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.api_token}"}
        async with httpx.AsyncClient(headers=headers, timeout=30.0) as http:
            log.info("r2_consumer_started", queue=self.messages_url, batch=self.batch_size)
            failures = 0
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                pulled_at = loop.time()
                try:
                    messages = await self._pull(http)
                except (httpx.HTTPError, QueueApiError) as exc:
                    failures += 1
                    wait = _wait_for(exc, failures)
                    log.warning("r2_pull_failed", error=str(exc), failures=failures, wait_s=wait)
                    await _sleep(stop, wait)
                    continue
                failures = 0
                if messages:
                    leased_until = pulled_at + self.visibility_timeout_ms / 1000
                    await self._handle_batch(http, messages, stop, leased_until)
                if len(messages) < self.batch_size:
                    # A steady cadence: the time spent starting a batch counts towards the
                    # pause, so a message waits at most one interval plus one batch.
                    await _sleep(stop, self.poll_interval_s - (loop.time() - pulled_at))
        log.info("r2_consumer_stopped")

    async def _pull(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        result = await _call(
            http,
            f"{self.messages_url}/pull",
            {"batch_size": self.batch_size, "visibility_timeout_ms": self.visibility_timeout_ms},
        )
        messages = result.get("messages") if isinstance(result, dict) else None
        return [m for m in messages or [] if isinstance(m, dict) and m.get("lease_id")]

    async def _handle_batch(
        self,
        http: httpx.AsyncClient,
        messages: list[dict[str, Any]],
        stop: asyncio.Event,
        leased_until: float,
    ) -> None:
        delays = await asyncio.gather(*(self._handle(message) for message in messages))
        handled = list(zip(messages, delays, strict=True))
        acks = [{"lease_id": m["lease_id"]} for m, delay in handled if delay is None]
        retries = [
            {"lease_id": m["lease_id"], "delay_seconds": delay}
            for m, delay in handled
            if delay is not None
        ]
        await self._ack(http, {"acks": acks, "retries": retries}, stop, leased_until)

    async def _handle(self, message: Mapping[str, Any]) -> int | None:
        """``None`` to ack the message, else the seconds to delay its retry."""
        attempts = message.get("attempts")
        attempts = attempts if isinstance(attempts, int) and attempts > 0 else 1
        try:
            parsed = parse_r2_event(message_body(message))
        except MalformedEvent as exc:
            log.warning(
                "r2_message_malformed",
                error=str(exc),
                message_id=message.get("id"),
                body=str(message.get("body"))[:500],
            )
            return None
        try:
            await self.starter.handle(parsed, source=SOURCE)
        except Exception as exc:
            delay = min(MAX_RETRY_DELAY_S, self.retry_base_s * attempts * attempts)
            log.warning(
                "r2_start_failed",
                error=str(exc),
                message_id=message.get("id"),
                attempts=attempts,
                retry_in_s=delay,
            )
            return delay
        if parsed.ignored:
            log.debug("r2_events_ignored", ignored=parsed.ignored)
        return None

    async def _ack(
        self,
        http: httpx.AsyncClient,
        body: dict[str, Any],
        stop: asyncio.Event,
        leased_until: float,
    ) -> None:
        """Ack until accepted or the leases expire (the messages then simply redeliver)."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                await _call(http, f"{self.messages_url}/ack", body)
                return
            except (httpx.HTTPError, QueueApiError) as exc:
                failures += 1
                wait = _wait_for(exc, failures)
                if stop.is_set() or loop.time() + wait > leased_until:
                    log.warning("r2_ack_abandoned", error=str(exc), leases=len(body["acks"]))
                    return
                log.warning("r2_ack_failed", error=str(exc), failures=failures, wait_s=wait)
                await asyncio.sleep(wait)


async def _call(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    """POST ``body``; the ``result`` of Cloudflare's answer."""
    return cloudflare_result(await http.post(url, json=body))


def cloudflare_result(response: httpx.Response) -> Any:
    """Unwrap Cloudflare's ``{"success", "errors", "result"}`` envelope.

    ``RateLimited`` for HTTP 429, ``QueueApiError`` for any other error status, a body that
    is not the envelope, or ``"success": false``.
    """
    url = response.request.url
    if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
        raise RateLimited(
            f"rate limited by {url}",
            retry_after_seconds(response.headers.get("Retry-After"), time()),
        )
    try:
        envelope = response.json()
    except ValueError:
        envelope = None
    if response.is_error or not isinstance(envelope, dict) or not envelope.get("success"):
        errors = envelope.get("errors") if isinstance(envelope, dict) else response.text[:200]
        raise QueueApiError(f"{url} answered {response.status_code}: {errors}")
    return envelope.get("result")


def _wait_for(exc: Exception, failures: int) -> float:
    """What a 429 asks for in ``Retry-After``, else exponential backoff."""
    if isinstance(exc, RateLimited) and exc.retry_after_s is not None:
        return exc.retry_after_s
    return min(MAX_ERROR_BACKOFF_S, ERROR_BACKOFF_S * 2.0 ** min(failures - 1, 16))


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake as soon as ``stop`` is set."""
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
