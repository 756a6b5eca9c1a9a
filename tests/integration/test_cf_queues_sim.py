"""The Cloudflare Queues stand-in behaves as the pull-consumer docs describe.

Docs: https://developers.cloudflare.com/queues/configuration/pull-consumers/ (the example
bodies are in tests/data/events/r2/).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pipeline.standins.cf_queues_sim import CloudflareQueuesSim

pytestmark = pytest.mark.integration

DOCS = Path(__file__).parents[1] / "data" / "events" / "r2"
TOKEN = "sim-token"


class Clock:
    """Time the test moves by hand, so lease expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture(loop_scope="session")
async def api() -> AsyncIterator[tuple[CloudflareQueuesSim, httpx.AsyncClient, Clock]]:
    clock = Clock()
    sim = CloudflareQueuesSim(account_id="acct", queue_id="q1", api_token=TOKEN, clock=clock)
    async with (
        sim.serve() as base,
        httpx.AsyncClient(
            base_url=f"{base}/accounts/acct/queues/q1",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as http,
    ):
        yield sim, http, clock


async def pull(http: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    response = await http.post("/messages/pull", json=body)
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["result"]["messages"]
    return messages


async def test_pull_answers_in_the_documented_shape(
    api: tuple[CloudflareQueuesSim, httpx.AsyncClient, Clock],
) -> None:
    sim, http, _ = api
    documented = json.loads((DOCS / "pull_response.json").read_text())
    sim.publish({"hello": "world"})
    response = (await http.post("/messages/pull", json={"batch_size": 2})).json()
    assert response.keys() == documented.keys()
    assert response["result"].keys() == documented["result"].keys()
    message = response["result"]["messages"][0]
    assert message.keys() == documented["result"]["messages"][0].keys()
    assert message["metadata"]["CF-Content-Type"] == "json"
    assert json.loads(base64.b64decode(message["body"])) == {"hello": "world"}


async def test_an_unacked_lease_expires_and_redelivers_with_more_attempts_until_max_retries(
    api: tuple[CloudflareQueuesSim, httpx.AsyncClient, Clock],
) -> None:
    sim, http, clock = api
    message = sim.publish("x", content_type="text")
    first = await pull(http, visibility_timeout_ms=1000)
    assert [(m["id"], m["attempts"], m["body"]) for m in first] == [(message, 1, "x")]
    assert await pull(http) == [], "leased messages are invisible"
    clock.now += 1.001
    second = await pull(http, visibility_timeout_ms=1000)
    assert [(m["attempts"], m["lease_id"] != first[0]["lease_id"]) for m in second] == [(2, True)]
    clock.now += 1.001
    assert [m["attempts"] for m in await pull(http, visibility_timeout_ms=1000)] == [3]
    clock.now += 1.001
    assert await pull(http) == []
    assert sim.dead == [message]


async def test_retries_come_back_after_their_delay_and_acks_are_accepted_after_expiry(
    api: tuple[CloudflareQueuesSim, httpx.AsyncClient, Clock],
) -> None:
    sim, http, clock = api
    retried, late = sim.publish("retry me", "text"), sim.publish("ack me late", "text")
    leases = {m["id"]: m["lease_id"] for m in await pull(http, visibility_timeout_ms=500)}
    clock.now += 1.0  # both leases have expired
    answer = await http.post(
        "/messages/ack",
        json={
            "acks": [{"lease_id": leases[late]}],
            "retries": [{"lease_id": leases[retried], "delay_seconds": 30}],
        },
    )
    assert answer.json()["result"] == {"ackCount": 1, "retryCount": 1, "warnings": {}}
    assert sim.acked == [late]
    clock.now += 29
    assert await pull(http) == []
    clock.now += 1.5
    assert [m["id"] for m in await pull(http)] == [retried]


async def test_bad_tokens_oversized_batches_and_throttling_get_cloudflare_errors(
    api: tuple[CloudflareQueuesSim, httpx.AsyncClient, Clock],
) -> None:
    sim, http, _ = api
    refused = await http.post("/messages/pull", json={}, headers={"Authorization": "Bearer no"})
    assert refused.status_code == 401
    assert refused.json()["success"] is False
    assert (await http.post("/messages/pull", json={"batch_size": 101})).status_code == 400
    sim.throttle(1, retry_after="7")
    throttled = await http.post("/messages/pull", json={})
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
    assert (await http.post("/messages/pull", json={})).status_code == 200


async def test_batches_hold_at_most_batch_size_and_publishing_over_http_works(
    api: tuple[CloudflareQueuesSim, httpx.AsyncClient, Clock],
) -> None:
    sim, http, _ = api
    for index in range(7):
        pushed = await http.post("/messages", json={"body": {"n": index}, "content_type": "json"})
        assert pushed.status_code == 200
    assert len(await pull(http, batch_size=5)) == 5
    assert len(await pull(http, batch_size=5)) == 2
    assert sim.backlog == 7


async def test_the_documented_ack_body_is_accepted_and_unknown_leases_are_warned_about(
    api: tuple[CloudflareQueuesSim, httpx.AsyncClient, Clock],
) -> None:
    _, http, _ = api
    documented = json.loads((DOCS / "ack_request.json").read_text())
    answer = await http.post("/messages/ack", json=documented)
    assert answer.status_code == 200
    result = answer.json()["result"]
    assert (result["ackCount"], result["retryCount"]) == (0, 0)
    assert set(result["warnings"]) == {"lease_id1", "lease_id2", "lease_id3", "lease_id4"}
