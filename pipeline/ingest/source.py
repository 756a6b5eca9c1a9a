"""What every event source is, and the one chosen by ``EVENT_SOURCE``.

A source turns a transport's deliveries into ``Starter.start`` calls and acknowledges a
delivery only once every drop it names has a durable workflow; reconcile is the safety
net for whatever a transport loses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from pipeline.config import EVENT_SOURCES, Settings
from pipeline.domain.errors import ConfigError
from pipeline.ingest.r2_queue import R2QueueConsumer
from pipeline.ingest.seaweedfs import SeaweedFSSource
from pipeline.ingest.sqs import SqsConsumer
from pipeline.ingest.starter import Starter
from pipeline.ingest.webhook import WebhookReceiver


class EventSource(Protocol):
    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, surviving transient transport and Temporal errors."""


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


def build_source(
    settings: Settings,
    starter: Starter,
    source: str,
    *,
    on_stream_start: Callable[[], Awaitable[None]] | None = None,
) -> EventSource:
    """The consumer for ``source`` (``seaweedfs``, ``sqs``, ``r2`` or ``webhook``).

    ``on_stream_start`` runs whenever the ``seaweedfs`` stream (re)starts (see there).
    """
    missing = missing_settings(settings, source)
    if missing:
        raise ConfigError(f"EVENT_SOURCE={source} needs {', '.join(missing)}")
    if source == "r2":
        return R2QueueConsumer.from_settings(settings, starter)
    if source == "webhook":
        return WebhookReceiver.from_settings(settings, starter)
    if source == "sqs":
        return SqsConsumer(settings, starter)
    if source == "seaweedfs":
        return SeaweedFSSource(settings, starter, on_stream_start=on_stream_start)
    raise ConfigError(f"unknown EVENT_SOURCE {source!r}; one of {', '.join(EVENT_SOURCES)}")
