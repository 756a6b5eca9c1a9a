"""A stand-in for Cloudflare Queues' HTTP API, written from its docs, for tests and benches.

Implements what an HTTP pull consumer and ``pipeline doctor`` use, under ``/client/v4``:

- ``POST /accounts/{a}/queues/{q}/messages``: publish ``{"body", "content_type", "delay_seconds"}``
- ``POST .../messages/pull``: ``{"batch_size" (default 5, ≤100), "visibility_timeout_ms"
  (default 30 s, ≤12 h)}``; each delivery bumps ``attempts`` and takes a lease that expires,
  after which the message is delivered again; a message whose ``attempts`` reached
  ``max_retries`` is dropped instead (kept in ``dead``)
- ``POST .../messages/ack``: ``{"acks": [{"lease_id"}], "retries": [{"lease_id",
  "delay_seconds"}]}``; leases stay valid after expiry, as the docs promise
- ``GET /accounts/{a}/queues/{q}``: the queue and its ``http_pull`` consumer
- ``GET``/``PUT /accounts/{a}/event_notifications/r2/{bucket}/configuration/queues/{q}``

``json`` and ``bytes`` bodies are delivered base64-encoded, ``text`` as is. Responses use
Cloudflare's ``{"success", "errors", "messages", "result"}`` envelope; a wrong bearer token
gets 401, and ``throttle(n)`` answers the next ``n`` calls with 429 + ``Retry-After``.
``notify`` plays R2: it publishes the event notification R2 sends for an object change.

Docs: https://developers.cloudflare.com/queues/configuration/pull-consumers/,
https://developers.cloudflare.com/r2/buckets/event-notifications/.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

MAX_BATCH = 100
MAX_VISIBILITY_MS = 12 * 3600 * 1000
MAX_DELAY_S = 12 * 3600
API_PREFIX = "/client/v4"


@dataclass
class SimMessage:
    id: str
    body: str
    content_type: str
    timestamp_ms: int
    visible_at: float
    attempts: int = 0


@dataclass
class Call:
    """One API request the sim answered, for tests to inspect."""

    action: str
    status: int
    at: float


@dataclass
class CloudflareQueuesSim:
    account_id: str
    queue_id: str
    api_token: str
    queue_name: str = "pipeline-events"
    max_retries: int = 3
    clock: Callable[[], float] = time.monotonic
    messages: dict[str, SimMessage] = field(default_factory=dict)
    leases: dict[str, str] = field(default_factory=dict)
    """Lease id → message id; never forgotten, since late acks are accepted."""
    acked: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    notification_rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Bucket → rules of its event notification to this queue."""
    _throttled: int = 0
    _retry_after: str = "1"

    def publish(self, body: Any, content_type: str = "json", delay_seconds: float = 0) -> str:
        """Enqueue a message, as ``POST .../messages`` does; returns its id."""
        if content_type == "json":
            encoded = base64.b64encode(json.dumps(body).encode()).decode()
        elif content_type == "bytes":
            encoded = base64.b64encode(body).decode()
        else:
            encoded = str(body)
        message = SimMessage(
            id=uuid.uuid4().hex,
            body=encoded,
            content_type=content_type,
            timestamp_ms=int(time.time() * 1000),
            visible_at=self.clock() + delay_seconds,
        )
        self.messages[message.id] = message
        return message.id

    def notify(self, action: str, bucket: str, key: str, etag: str = "", size: int = 0) -> str:
        """Publish the event notification R2 sends when ``action`` changes ``key``."""
        obj: dict[str, Any] = {"key": key}
        if not action.endswith("Deletion") and action != "DeleteObject":
            obj |= {"size": size, "eTag": etag.strip('"')}
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event = {
            "account": self.account_id,
            "action": action,
            "bucket": bucket,
            "object": obj,
            "eventTime": now,
        }
        return self.publish(event)

    def throttle(self, count: int, retry_after: str = "1") -> None:
        """Answer the next ``count`` API calls with 429 and this ``Retry-After``."""
        self._throttled, self._retry_after = count, retry_after

    @property
    def backlog(self) -> int:
        return len(self.messages)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        queue = f"{API_PREFIX}/accounts/{{account}}/queues/{{queue}}"
        rules = f"{API_PREFIX}/accounts/{{account}}/event_notifications/r2/{{bucket}}"
        app.router.add_post(f"{queue}/messages", self._push)
        app.router.add_post(f"{queue}/messages/pull", self._pull)
        app.router.add_post(f"{queue}/messages/ack", self._ack)
        app.router.add_get(queue, self._queue)
        app.router.add_get(f"{rules}/configuration/queues/{{queue}}", self._get_rules)
        app.router.add_put(f"{rules}/configuration/queues/{{queue}}", self._put_rules)
        return app

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on a free port; yields the API base URL (``CF_API_BASE_URL``)."""
        runner = web.AppRunner(self.app())
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        try:
            yield f"http://{host}:{bound}{API_PREFIX}"
        finally:
            await runner.cleanup()

    @web.middleware
    async def _gate(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        action = request.path.rsplit("/", 1)[-1]
        if request.headers.get("Authorization") != f"Bearer {self.api_token}":
            response = _error(401, 10000, "Authentication error")
        elif (
            request.match_info.get("account") != self.account_id
            or request.match_info.get("queue") != self.queue_id
        ):
            response = _error(404, 7003, "No route for the URI")
        elif self._throttled > 0:
            self._throttled -= 1
            response = _error(429, 971, "Please wait and consider throttling your request speed")
            response.headers["Retry-After"] = self._retry_after
        else:
            response = await handler(request)
        self.calls.append(Call(action, response.status, self.clock()))
        return response

    async def _push(self, request: web.Request) -> web.Response:
        body = await _json(request)
        delay = float(body.get("delay_seconds") or 0)
        if not 0 <= delay <= MAX_DELAY_S:
            return _error(400, 10400, "delay_seconds out of range")
        self.publish(body.get("body"), str(body.get("content_type") or "json"), delay)
        return _ok({"metadata": {"metrics": {"backlog_count": self.backlog}}})

    async def _pull(self, request: web.Request) -> web.Response:
        body = await _json(request)
        batch = int(body.get("batch_size", 5))
        visibility = int(body.get("visibility_timeout_ms", body.get("visibility_timeout", 30_000)))
        if not 1 <= batch <= MAX_BATCH or not 0 < visibility <= MAX_VISIBILITY_MS:
            return _error(400, 10400, "batch_size or visibility_timeout_ms out of range")
        now, delivered = self.clock(), list[dict[str, Any]]()
        for message in list(self.messages.values()):
            if len(delivered) == batch:
                break
            if message.visible_at > now:
                continue
            if message.attempts >= self.max_retries:
                self.dead.append(self.messages.pop(message.id).id)
                continue
            message.attempts += 1
            message.visible_at = now + visibility / 1000
            lease = secrets.token_urlsafe(24)
            self.leases[lease] = message.id
            delivered.append(
                {
                    "body": message.body,
                    "id": message.id,
                    "timestamp_ms": message.timestamp_ms,
                    "attempts": message.attempts,
                    "metadata": {
                        "CF-sourceMessageSource": "api",
                        "CF-Content-Type": message.content_type,
                    },
                    "lease_id": lease,
                }
            )
        return _ok({"message_backlog_count": self.backlog, "messages": delivered})

    async def _ack(self, request: web.Request) -> web.Response:
        body = await _json(request)
        acks, retries, warnings = 0, 0, {}
        for item in body.get("acks") or []:
            message_id = self.leases.get(str(item.get("lease_id")))
            if message_id is None:
                warnings[str(item.get("lease_id"))] = "unknown lease"
            elif self.messages.pop(message_id, None) is not None:
                self.acked.append(message_id)
                acks += 1
        for item in body.get("retries") or []:
            delay = float(item.get("delay_seconds") or 0)
            message_id = self.leases.get(str(item.get("lease_id")))
            if not 0 <= delay <= MAX_DELAY_S:
                return _error(400, 10400, "delay_seconds out of range")
            if message_id is None or message_id not in self.messages:
                warnings[str(item.get("lease_id"))] = "unknown lease"
                continue
            self.messages[message_id].visible_at = self.clock() + delay
            retries += 1
        return _ok({"ackCount": acks, "retryCount": retries, "warnings": warnings})

    async def _queue(self, request: web.Request) -> web.Response:
        return _ok(
            {
                "queue_id": self.queue_id,
                "queue_name": self.queue_name,
                "consumers": [{"type": "http_pull", "settings": {"max_retries": self.max_retries}}],
                "consumers_total_count": 1,
            }
        )

    async def _get_rules(self, request: web.Request) -> web.Response:
        rules = self.notification_rules.get(request.match_info["bucket"], [])
        return _ok({"queueId": self.queue_id, "queueName": self.queue_name, "rules": rules})

    async def _put_rules(self, request: web.Request) -> web.Response:
        rules = (await _json(request)).get("rules") or []
        self.notification_rules.setdefault(request.match_info["bucket"], []).extend(rules)
        return _ok({})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="body is not JSON") from None
    return body if isinstance(body, dict) else {}


def _ok(result: Any) -> web.Response:
    return web.json_response({"success": True, "errors": [], "messages": [], "result": result})


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"success": False, "errors": [{"code": code, "message": message}], "messages": []},
        status=status,
    )
