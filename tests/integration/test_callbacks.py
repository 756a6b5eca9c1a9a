"""The completion callback activity against a local receiver that verifies on its own."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from aiohttp import web
from standardwebhooks import Webhook
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from pipeline.domain.contracts import NotifyInput
from pipeline.stack.process import free_port
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"receiver-and-sender-key!").decode()


@dataclass
class Receiver:
    """Answers the queued statuses in turn (then 200) and verifies each signed POST."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], object]] = field(default_factory=list)


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hooks/done?token=abc")

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        payload = Webhook(SECRET).verify(body, dict(request.headers))  # Raises if forged.
        state.received.append((dict(request.headers), payload))
        return web.Response(status=state.answers.pop(0) if state.answers else 200)

    app = web.Application()
    app.router.add_post("/hooks/done", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_a_signed_callback_is_retried_after_a_500_with_the_same_id(
    s3_bucket: S3Bucket, receiver: Receiver
) -> None:
    settings = s3_bucket.settings(CALLBACK_SECRET=SECRET)
    async with ObjectStore(settings) as store:
        await store.put_json("sessions/cb-1/result.json", {"status": "succeeded", "frames": 81})
        notify = NotifyActivities(store, settings)
        request = NotifyInput(
            session_id="cb-1",
            workflow_id="session-cb-1",
            message_id="msg_run-1",
            status="succeeded",
            callback_url=receiver.url,
            record_key="sessions/cb-1/result.json",
        )
        receiver.answers = [500]

        with pytest.raises(ApplicationError) as first:
            await ActivityEnvironment().run(notify.notify_completion, request)
        assert (first.value.type, first.value.non_retryable) == ("callback_rejected", False)
        assert "token" not in first.value.message  # The URL's query is never echoed.

        delivered = await ActivityEnvironment().run(notify.notify_completion, request)

    assert (delivered.delivered, delivered.status_code) == (True, 200)
    assert [headers["webhook-id"] for headers, _ in receiver.received] == ["msg_run-1"] * 2
    payload = receiver.received[-1][1]
    assert payload == {
        "type": "session.succeeded",
        "timestamp": payload["timestamp"],  # type: ignore[index]
        "data": {"status": "succeeded", "frames": 81},
    }


async def test_no_url_anywhere_means_nothing_is_sent(s3_bucket: S3Bucket) -> None:
    settings = s3_bucket.settings()
    async with ObjectStore(settings) as store:
        outcome = await ActivityEnvironment().run(
            NotifyActivities(store, settings).notify_completion,
            NotifyInput(
                session_id="cb-2",
                workflow_id="session-cb-2",
                message_id="msg_2",
                status="failed",
                record_key="sessions/cb-2/error.json",
            ),
        )
    assert not outcome.delivered
