"""S3 → SQS event source: long-poll, start each drop's session, then delete the message.

A message is deleted only after every drop it names has a durable workflow, so a crash
between start and delete redelivers it, and the deterministic workflow id makes the
redelivery attach to the same session. Malformed bodies are logged and deleted so one
bad message cannot stall the queue.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiobotocore.session import get_session

from pipeline.config import EventSourceName, Settings
from pipeline.domain.errors import MalformedEvent
from pipeline.ingest.events import parse_s3_notification
from pipeline.ingest.starter import Starter
from pipeline.logging import get_logger
from pipeline.storage import client_kwargs

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = get_logger()

SOURCE: EventSourceName = "sqs"
WAIT_SECONDS = 20
BATCH = 10
ERROR_BACKOFF_S = 2.0
POLLERS = 2
"""Concurrent long polls, so a message arriving while one poller starts workflows waits
for no one."""


class SqsConsumer:
    def __init__(self, settings: Settings, starter: Starter) -> None:
        self.settings = settings
        self.queue_url = settings.event_queue_url
        self.starter = starter

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; survives transient queue and Temporal errors."""
        async with get_session().create_client(
            "sqs",
            endpoint_url=self.settings.event_queue_endpoint,
            **client_kwargs(self.settings, aio=True),
        ) as sqs:
            log.info("sqs_consumer_started", queue=self.queue_url, pollers=POLLERS)
            await asyncio.gather(*(self._poll(sqs, stop) for _ in range(POLLERS)))
        log.info("sqs_consumer_stopped")

    async def _poll(self, sqs: SQSClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            receive = asyncio.ensure_future(self._receive(sqs))
            halt = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({receive, halt}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                receive.cancel()
                return
            halt.cancel()
            try:
                messages = receive.result()
            except Exception as exc:
                log.warning("sqs_receive_failed", error=str(exc))
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            handled = await asyncio.gather(*(self._handle(message) for message in messages))
            await self._delete(sqs, [receipt for receipt in handled if receipt is not None])

    async def _receive(self, sqs: SQSClient) -> list[MessageTypeDef]:
        response = await sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=WAIT_SECONDS
        )
        return response.get("Messages", [])

    async def _handle(self, message: MessageTypeDef) -> str | None:
        """Start the message's drops; its receipt handle if it may be deleted now."""
        body, receipt = message.get("Body", ""), message["ReceiptHandle"]
        try:
            parsed = parse_s3_notification(body)
        except MalformedEvent as exc:
            log.warning("sqs_message_malformed", error=str(exc), body=body[:500])
            return receipt
        try:
            await self.starter.handle(parsed, source=SOURCE)
        except Exception as exc:
            # Leave the message: it becomes visible again and is retried after the timeout.
            log.warning("sqs_start_failed", error=str(exc), drops=len(parsed.drops))
            return None
        if parsed.ignored:
            log.debug("sqs_records_ignored", ignored=parsed.ignored)
        return receipt

    async def _delete(self, sqs: SQSClient, receipts: list[str]) -> None:
        """One batch call for a received batch (``BATCH`` is SQS's batch limit too)."""
        if not receipts:
            return
        try:
            response = await sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)],
            )
        except Exception as exc:
            # Undeleted messages are redelivered; their starts attach to the same sessions.
            log.warning("sqs_delete_failed", error=str(exc), messages=len(receipts))
            return
        for failure in response.get("Failed", []):
            log.warning("sqs_delete_failed", id=failure["Id"], error=failure.get("Message"))
