"""What every event source is, and the one chosen by ``EVENT_SOURCE``.

A source turns a transport's deliveries into ``Starter.start`` calls and acknowledges a
delivery only once every drop it names has a durable workflow; reconcile is the safety
net for whatever a transport loses.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from pipeline.config import ConfigError, Settings
from pipeline.domain.drop import DropRef
from pipeline.ingest.starter import Starter


class EventSource(Protocol):
    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, surviving transient transport and Temporal errors."""


async def start_all(starter: Starter, drops: list[DropRef], *, source: str) -> None:
    """Start every drop; raises if any start failed, so the caller must not ack."""
    results = await asyncio.gather(
        *(starter.start(drop, source=source) for drop in drops), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


def missing_settings(settings: Settings, source: str) -> list[str]:
    """Variables ``source`` needs that are unset."""
    needed: dict[str, object] = {}
    if source == "r2":
        needed = {
            "CF_ACCOUNT_ID": settings.cf_account_id,
            "CF_QUEUE_ID": settings.cf_queue_id,
            "CF_API_TOKEN": settings.cf_api_token,
        }
    elif source == "webhook":
        needed = {"WEBHOOK_SECRET": settings.webhook_secret}
    return [name for name, value in needed.items() if not value]


def build_source(settings: Settings, starter: Starter, source: str) -> EventSource:
    """The consumer for ``source`` (``sqs``, ``r2`` or ``webhook``), fully configured."""
    missing = missing_settings(settings, source)
    if missing:
        raise ConfigError(f"EVENT_SOURCE={source} needs {', '.join(missing)}")
    # Imported here: each source module imports ``start_all`` from this one.
    if source == "r2":
        from pipeline.ingest.r2_queue import R2QueueConsumer

        return R2QueueConsumer.from_settings(settings, starter)
    if source == "webhook":
        from pipeline.ingest.webhook import WebhookReceiver

        return WebhookReceiver.from_settings(settings, starter)
    if source == "sqs":
        from pipeline.ingest.sqs import SqsConsumer

        return SqsConsumer(settings, starter)
    raise ConfigError(f"unknown EVENT_SOURCE {source!r}; one of sqs, r2, webhook")
