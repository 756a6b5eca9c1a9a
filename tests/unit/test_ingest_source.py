from __future__ import annotations

import pytest
from temporalio.client import Client

from pipeline.config import load_settings
from pipeline.domain.errors import ConfigError
from pipeline.ingest.r2_queue import R2QueueConsumer
from pipeline.ingest.source import build_source, missing_settings
from pipeline.ingest.sqs import SqsConsumer
from pipeline.ingest.starter import Starter
from pipeline.ingest.webhook import WebhookReceiver

CLOUDFLARE = {"CF_ACCOUNT_ID": "acct", "CF_QUEUE_ID": "q", "CF_API_TOKEN": "token"}


async def starter() -> Starter:
    # Lazy: building a source needs a client but never connects it.
    client = await Client.connect("127.0.0.1:9", lazy=True)
    return Starter(client, task_queue="pipeline", gpu_task_queue="gpu")


def test_each_source_names_the_variables_it_still_needs() -> None:
    settings = load_settings()
    assert missing_settings(settings, "sqs") == []
    assert missing_settings(settings, "r2") == ["CF_ACCOUNT_ID", "CF_QUEUE_ID", "CF_API_TOKEN"]
    assert missing_settings(settings, "webhook") == ["WEBHOOK_SECRET"]


async def test_a_source_without_its_settings_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        build_source(load_settings(), await starter(), "webhook")


@pytest.mark.parametrize(
    ("source", "overrides", "kind"),
    [
        ("sqs", {}, SqsConsumer),
        ("r2", CLOUDFLARE, R2QueueConsumer),
        ("webhook", {"WEBHOOK_SECRET": "s"}, WebhookReceiver),
    ],
)
async def test_event_source_selects_its_consumer(
    source: str, overrides: dict[str, str], kind: type
) -> None:
    settings = load_settings(EVENT_SOURCE=source, **overrides)
    built = build_source(settings, await starter(), source)
    assert isinstance(built, kind)


async def test_r2_consumer_talks_to_the_configured_queue() -> None:
    settings = load_settings(CF_API_BASE_URL="http://127.0.0.1:9/client/v4/", **CLOUDFLARE)
    consumer = R2QueueConsumer.from_settings(settings, await starter())
    assert consumer.messages_url == "http://127.0.0.1:9/client/v4/accounts/acct/queues/q/messages"
