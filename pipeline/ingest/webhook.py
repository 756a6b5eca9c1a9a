"""Webhook event source: MinIO/S3-style event POSTs, authenticated with a shared secret.

``POST /events`` with ``Authorization: Bearer {WEBHOOK_SECRET}`` (what MinIO's
``notify_webhook`` sends for its ``auth_token``) and an S3 notification body. The answer is
2xx only once every drop in the body has a durable workflow, so a sender that retries
non-2xx answers can never lose an event: 401 for a wrong secret, 400 for a body that is
not an event (logged; resending it cannot help), 503 when a start failed.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from aiohttp import web

from pipeline.config import EventSourceName, Settings
from pipeline.domain.errors import ConfigError, MalformedEvent
from pipeline.ingest.events import parse_s3_notification
from pipeline.ingest.starter import Starter
from pipeline.logging import get_logger

log = get_logger()

SOURCE: EventSourceName = "webhook"
PATH = "/events"
MAX_BODY_BYTES = 1024 * 1024
"""S3 notification bodies are a few KB; anything near this is not one."""


class WebhookReceiver:
    def __init__(self, starter: Starter, *, secret: str, host: str, port: int) -> None:
        if not secret:
            raise ValueError("the webhook needs a non-empty shared secret")
        self.starter = starter
        self._expected = f"Bearer {secret}".encode()
        self.host = host
        self.port = port

    @classmethod
    def from_settings(cls, settings: Settings, starter: Starter) -> Self:
        if settings.webhook_secret is None:
            raise ConfigError("the webhook source needs WEBHOOK_SECRET")
        return cls(
            starter,
            secret=settings.webhook_secret.get_secret_value(),
            host=settings.webhook_host,
            port=settings.webhook_port,
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(PATH, self._receive)
        return app

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0 picks a free port); yields the events URL."""
        runner = web.AppRunner(self.app())
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        bound = runner.addresses[0][1]
        try:
            yield f"http://{self.host}:{bound}{PATH}"
        finally:
            await runner.cleanup()

    async def run(self, stop: asyncio.Event) -> None:
        async with self.serve() as url:
            log.info("webhook_listening", url=url)
            await stop.wait()
        log.info("webhook_stopped")

    def _authorized(self, request: web.Request) -> bool:
        provided = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(provided, self._expected)

    async def _receive(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            log.warning("webhook_unauthorized", peer=request.remote)
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.read()
        try:
            parsed = parse_s3_notification(body)
        except MalformedEvent as exc:
            log.warning(
                "webhook_body_malformed", error=str(exc), body=body[:500].decode(errors="replace")
            )
            return web.json_response({"error": str(exc)}, status=400)
        try:
            await self.starter.handle(parsed, source=SOURCE)
        except Exception as exc:
            log.warning("webhook_start_failed", error=str(exc), drops=len(parsed.drops))
            return web.json_response({"error": "could not start; retry"}, status=503)
        if parsed.ignored:
            log.debug("webhook_records_ignored", ignored=parsed.ignored)
        return web.json_response({"started": len(parsed.drops), "ignored": len(parsed.ignored)})
