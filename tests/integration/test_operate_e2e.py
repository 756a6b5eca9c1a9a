"""Operating sessions through the whole embedded stack: live progress from comfy-sim, the
Temporal UI's view, the completion callback, `pipeline tail/ls/status/cancel`.

Real Temporal dev server, moto, comfy-sim, and the workers and ingest as `pipeline`
processes, as `pipeline up` runs them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from standardwebhooks import Webhook
from temporalio.client import Client, WorkflowExecutionStatus

from pipeline.cli.session_view import session_status
from pipeline.config import Settings
from pipeline.domain.contracts import SessionProgress
from pipeline.domain.layout import SessionLayout
from pipeline.domain.records import ErrorRecord
from pipeline.stack.process import free_port
from pipeline.storage import sync_s3
from pipeline.temporal_client import connect
from pipeline.workflows import attributes
from pipeline.workflows.session import SessionWorkflow
from tests.helpers import eventually, png, put_drop
from tests.integration.stack_support import embedded_stack, finished, pipeline_cli, sample_image

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"operate-e2e-callback-key").decode()
SIZE = {"width": 256, "height": 144}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with embedded_stack(
        tmp_path_factory.mktemp("operate-stack"),
        "operate-sessions",
        CALLBACK_SECRET=SECRET,
    ) as settings:
        yield settings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(stack: Settings) -> Client:
    return await connect(stack)


@asynccontextmanager
async def hook_at(
    answer: Callable[[web.Request], Awaitable[web.Response]],
) -> AsyncIterator[str]:
    """A local receiver answering POSTs to ``/done`` with ``answer``; yields its URL."""
    port = free_port()
    app = web.Application()
    app.router.add_post("/done", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/done"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[tuple[str, list[object]]]:
    """A callback receiver verifying with the reference Standard Webhooks library."""
    verified: list[object] = []

    async def hook(request: web.Request) -> web.Response:
        verified.append(Webhook(SECRET).verify(await request.read(), dict(request.headers)))
        return web.Response(status=204)

    async with hook_at(hook) as url:
        yield url, verified


@pytest_asyncio.fixture(loop_scope="session")
async def failing_receiver() -> AsyncIterator[tuple[str, list[datetime]]]:
    """A receiver that is down: every POST is answered 500 (when, kept)."""
    hits: list[datetime] = []

    async def down(request: web.Request) -> web.Response:
        await request.read()
        hits.append(datetime.now().astimezone())
        return web.Response(status=500, text="down")

    async with hook_at(down) as url:
        yield url, hits


async def test_progress_reports_real_sampler_steps_and_the_ui_and_cli_follow(
    stack: Settings, client: Client, receiver: tuple[str, list[object]]
) -> None:
    url, verified = receiver
    manifest = {
        "kind": "i2v",
        "image": "still.png",
        "steps": 100,  # comfy-sim spends 20 ms a step: two seconds of sampling a segment.
        "extensions": 1,
        "prompt": "a lighthouse at dusk",
        "callback_url": url,
        **SIZE,
    }
    drop = put_drop(stack, "progress", manifest, {"still.png": png()})
    tail = asyncio.create_task(
        asyncio.to_thread(pipeline_cli, stack, "tail", drop.session_id, "--timeout", "200")
    )
    handle = client.get_workflow_handle(drop.workflow_id)
    seen: list[SessionProgress] = []

    async def sampled() -> bool:
        try:
            seen.append(await handle.query(SessionWorkflow.progress))
        except Exception:  # Not started yet, or no worker free to answer: ask again.
            return False
        return seen[-1].stage in ("stitching", "publishing", "succeeded")

    await eventually(sampled, 180)
    assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.COMPLETED

    sampling = [p for p in seen if p.stage == "generating" and p.node == "KSamplerAdvanced"]
    assert sampling, seen
    assert all(p.steps == 100 for p in sampling)
    assert any(0 < p.step < 100 for p in sampling)
    assert any(p.eta_s is not None and p.eta_s > 0 for p in sampling)
    assert any((p.doing or "").startswith("sampling step ") for p in sampling)
    assert {p.segment for p in sampling} <= {1, 2}

    description = await handle.describe()
    summary = await description.static_summary()
    assert summary is not None
    assert summary.startswith("i2v · ")
    assert summary.endswith(f"161 frames · `{drop.manifest_key}`")
    assert "a lighthouse at dusk" in (await description.static_details() or "")
    found = description.typed_search_attributes
    assert found.get(attributes.SESSION_STATUS) == "succeeded"
    assert found.get(attributes.DROP_KEY) == drop.manifest_key
    assert found.get(attributes.GPU_WORKER)

    done = await tail
    assert done.returncode == 0, done.stderr[-2000:]
    assert "succeeded: 161 frames" in done.stdout
    status = json.loads(
        (await asyncio.to_thread(pipeline_cli, stack, "status", drop.session_id, "--json")).stdout
    )
    assert (status["segments_done"], status["segments_total"]) == (2, 2)
    listed = await asyncio.to_thread(
        pipeline_cli, stack, "ls", "--status", "succeeded", "--kind", "i2v", "--json"
    )
    assert drop.session_id in {row["session_id"] for row in json.loads(listed.stdout)["sessions"]}

    await eventually(lambda: asyncio.sleep(0, result=bool(verified)), 30)
    await asyncio.sleep(3)  # A second delivery (the first try's retry) would be in by now.
    [payload] = verified  # Delivered once, from the callback's own workflow.
    assert isinstance(payload, dict)
    assert payload["type"] == "session.succeeded"
    stored = sync_s3(stack).get_object(
        Bucket=stack.r2_bucket_name, Key=SessionLayout(drop.session_id).result
    )
    assert payload["data"] == json.loads(stored["Body"].read())  # result.json, as before
    assert set(payload["data"]["urls"]) >= {"combined", "segment_000"}
    view = await session_status(client, stack, drop.session_id)
    assert view.callback is not None
    assert (view.callback.state, view.callback.status_code) == ("delivered", 204)


async def test_a_failing_callback_receiver_leaves_the_session_final_within_seconds(
    stack: Settings,
    client: Client,
    failing_receiver: tuple[str, list[datetime]],
    tmp_path: Path,
) -> None:
    """The case failing-callback-holds-completion: the outcome and URLs are final once
    result.json is written; the callback retries in its own workflow, visibly."""
    url, hits = failing_receiver
    image = sample_image(tmp_path / "face.png")
    done = await asyncio.to_thread(
        pipeline_cli, stack, "drop", str(image),
        "--set", "width=256", "--set", "height=144", "--set", f"callback_url={url}",
        "--wait", "--timeout", "150", "--json",
    )  # fmt: skip
    # Before: --wait followed the session through the callback's ten tries, and ran out.
    assert done.returncode == 0, done.stderr[-3000:]
    finished_view = json.loads(done.stdout)
    session_id = finished_view["session_id"]
    assert finished_view["status"] == "succeeded"
    assert {"combined", "result"} <= set(finished_view["urls"])
    description = await client.get_workflow_handle(f"session-{session_id}").describe()
    assert description.status is WorkflowExecutionStatus.COMPLETED
    recorded = sync_s3(stack).head_object(
        Bucket=stack.r2_bucket_name, Key=SessionLayout(session_id).result
    )["LastModified"]
    assert description.close_time is not None
    closed_after_s = (description.close_time - recorded).total_seconds()
    print(f"\nfailing callback: session closed {closed_after_s:.1f} s after result.json")
    assert closed_after_s < 10

    async def retrying() -> bool:
        view = await session_status(client, stack, session_id)
        return view.callback is not None and view.callback.state == "retrying"

    await eventually(retrying, 30, every_s=0.5)
    shown = await asyncio.to_thread(pipeline_cli, stack, "status", session_id)
    as_json = json.loads(
        (await asyncio.to_thread(pipeline_cli, stack, "status", session_id, "--json")).stdout
    )
    # A cancel now is after the session's end: it says so, and leaves the callback retrying.
    cancelled = await asyncio.to_thread(pipeline_cli, stack, "cancel", session_id)
    callback = client.get_workflow_handle(as_json["callback"]["workflow_id"])
    still = (await callback.describe()).status
    await callback.terminate("test done")

    assert cancelled.returncode == 1, cancelled.stderr[-2000:]
    assert "already succeeded: nothing to cancel" in cancelled.stderr
    assert still is WorkflowExecutionStatus.RUNNING

    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.startswith("succeeded: ")
    assert "callback: retrying: try " in shown.stderr
    assert f"last error: callback to {url} answered 500" in shown.stderr
    assert as_json["status"] == "succeeded"
    assert as_json["callback"]["state"] == "retrying"
    assert as_json["callback"]["last_error"] == f"callback to {url} answered 500"
    assert as_json["callback"]["workflow_id"].startswith(f"callback-{session_id}-")
    assert hits, "the receiver was never called"


async def sim(stack: Settings, method: str, path: str, **body: object) -> object:
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.request(method, f"{stack.comfy_url}{path}", json=body or None)
        answer.raise_for_status()
        return answer.json() if answer.content else None


async def test_cancel_interrupts_comfyui_and_ends_the_session_within_seconds(
    stack: Settings, client: Client
) -> None:
    await sim(
        stack, "POST", "/sim/faults", faults=[{"kind": "hang", "node_type": "KSamplerAdvanced"}]
    )
    record = await sim(stack, "GET", "/sim/record")
    assert isinstance(record, dict)
    interrupts_before = len(record["interrupt"])
    drop = put_drop(stack, "cancel-me", {"kind": "i2v", "image": "a.png", **SIZE}, {"a.png": png()})
    handle = client.get_workflow_handle(drop.workflow_id)

    async def hanging() -> bool:
        try:
            progress = await handle.query(SessionWorkflow.progress)
        except Exception:  # Not started yet: ask again.
            return False
        return progress.stage == "generating" and progress.node == "KSamplerAdvanced"

    await eventually(hanging, 120)
    started = time.monotonic()
    cancelled = await asyncio.to_thread(
        pipeline_cli, stack, "cancel", drop.session_id, "--reason", "wrong prompt", "--json"
    )
    took = time.monotonic() - started

    assert cancelled.returncode == 0, cancelled.stderr[-2000:]
    view = json.loads(cancelled.stdout)
    assert (view["cancel_requested"], view["status"]) == (True, "cancelled")
    assert took < 10, f"cancel took {took:.1f} s"
    print(f"\ncancel: session ended CANCELED {took:.1f} s after 'pipeline cancel' started")
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    error = ErrorRecord.model_validate(view["error"])
    assert (error.status, error.reason, error.stage) == (
        "cancelled",
        "wrong prompt",
        "generating",
    )
    assert (error.cancelled_by or "").endswith("(pipeline cancel)")
    layout = SessionLayout(drop.session_id)
    assert error.kept["prepared_image"] == layout.prepared_image
    assert layout.prepared_image in {
        item["Key"]
        for item in sync_s3(stack)
        .list_objects_v2(Bucket=stack.r2_bucket_name, Prefix=layout.root)
        .get("Contents", [])
    }
    record = await sim(stack, "GET", "/sim/record")
    assert isinstance(record, dict)
    assert [set(body) for body in record["interrupt"][interrupts_before:]] == [{"prompt_id"}]
    queue = await sim(stack, "GET", "/queue")
    assert queue == {"queue_running": [], "queue_pending": []}

    again = await asyncio.to_thread(pipeline_cli, stack, "cancel", drop.session_id)
    assert again.returncode == 0
    assert "already cancelled: nothing to cancel" in again.stderr
    tail = await asyncio.to_thread(pipeline_cli, stack, "tail", drop.session_id)
    assert tail.returncode == 1


def objects(stack: Settings, prefix: str) -> dict[str, str]:
    """Key → ETag of everything under ``prefix``."""
    listing = sync_s3(stack).list_objects_v2(Bucket=stack.r2_bucket_name, Prefix=prefix)
    return {item["Key"]: item["ETag"] for item in listing.get("Contents", [])}


def cli_json(stack: Settings, *args: str) -> dict[str, Any]:
    done = pipeline_cli(stack, *args, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


async def test_reprocess_reruns_exactly_the_selection_into_new_generations_and_on_schedule(
    stack: Settings, client: Client
) -> None:
    prefix = f"inbox/rp-{uuid.uuid4().hex[:6]}"
    good = [
        put_drop(
            stack,
            f"{prefix[6:]}-{name}",
            {"kind": "i2v", "image": "a.png", **SIZE},
            {"a.png": png()},
        )
        for name in ("a", "b")
    ]
    for drop in good:
        assert await finished(client, drop.workflow_id) is WorkflowExecutionStatus.COMPLETED
    bad = put_drop(  # Not an image: bad_media, at once and for good.
        stack, f"{prefix[6:]}-c", {"kind": "i2v", "image": "a.png", **SIZE}, {"a.png": b"no"}
    )
    assert await finished(client, bad.workflow_id) is WorkflowExecutionStatus.FAILED
    other = put_drop(
        stack, "elsewhere", {"kind": "i2v", "image": "a.png", **SIZE}, {"a.png": png()}
    )
    assert await finished(client, other.workflow_id) is WorkflowExecutionStatus.COMPLETED
    before = {d.session_id: objects(stack, SessionLayout(d.session_id).root) for d in good}

    dry = await asyncio.to_thread(
        cli_json, stack, "reprocess", "--key-prefix", prefix, "--error-code", "bad_media",
        "--dry-run",
    )  # fmt: skip
    assert dry["session_ids"] == [bad.session_id]
    retryable = await asyncio.to_thread(
        cli_json, stack, "reprocess", "--key-prefix", prefix, "--retryable", "--dry-run"
    )
    assert retryable["session_ids"] == []  # Bad media is not worth a retry.
    batch = await asyncio.to_thread(
        cli_json, stack, "reprocess", "--key-prefix", prefix, "--status", "succeeded",
        "--kind", "i2v", "--set", "steps=6", "--concurrency", "2", "--wait",
    )  # fmt: skip
    assert (batch["selected"], batch["done"], batch["failed"]) == (2, 2, 0)

    for drop in good:
        layout = SessionLayout(drop.session_id)
        after = objects(stack, layout.root)
        old = {k: v for k, v in before[drop.session_id].items() if "/generations/" in k}
        assert old.items() <= after.items()  # Every earlier output untouched.
        status = await asyncio.to_thread(cli_json, stack, "status", drop.session_id)
        first, rerun = status["runs"]
        assert (first["status"], first["changed"]) == ("succeeded", {})
        assert (rerun["status"], rerun["changed"]) == ("succeeded", {"steps": 6})
        assert rerun["run"].endswith(batch["batch_id"])
        assert rerun["combined"] == layout.combined(rerun["run"]) in after
        assert status["result"]["manifest"]["steps"] == 6
    generations = SessionLayout(other.session_id).root + "generations/"
    assert len({key.split("/")[3] for key in objects(stack, generations)}) == 1  # Not selected.

    # The operator puts a good image beside the bad one and schedules the fix.
    sync_s3(stack).put_object(
        Bucket=stack.r2_bucket_name, Key=SessionLayout(bad.session_id).input("b.png"), Body=png()
    )
    name = f"t{uuid.uuid4().hex[:6]}"
    created = await asyncio.to_thread(
        pipeline_cli, stack, "schedule", "create", name, "--every", "1h",
        "--key-prefix", prefix, "--error-code", "bad_media", "--set", "image=b.png",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr[-2000:]
    triggered = await asyncio.to_thread(pipeline_cli, stack, "schedule", "trigger", name)
    assert triggered.returncode == 0, triggered.stderr[-2000:]

    async def batch_done() -> bool:
        query = f"WorkflowId STARTS_WITH 'reprocess-{name}-' AND ExecutionStatus = 'Completed'"
        return bool([w async for w in client.list_workflows(query)])

    await eventually(batch_done, 120)
    status = await asyncio.to_thread(cli_json, stack, "status", bad.session_id)
    assert [run["status"] for run in status["runs"]] == ["failed", "succeeded"]
    again = await asyncio.to_thread(
        cli_json, stack, "reprocess", "--key-prefix", prefix, "--error-code", "bad_media",
        "--dry-run",
    )  # fmt: skip
    assert (again["session_ids"], again["skipped"]) == ([], [bad.session_id])
    described = json.loads(
        (await asyncio.to_thread(pipeline_cli, stack, "schedule", "describe", name)).stdout
    )
    assert described["runs"] >= 1
    assert described["overlap"] == "skip"
    paused = await asyncio.to_thread(pipeline_cli, stack, "schedule", "pause", name)
    assert paused.returncode == 0
    listed = await asyncio.to_thread(cli_json, stack, "schedule", "ls")
    assert {"name": name, "paused": True}.items() <= next(
        row for row in listed["schedules"] if row["name"] == name
    ).items()
    assert (
        await asyncio.to_thread(pipeline_cli, stack, "schedule", "delete", name)
    ).returncode == 0
    gone = await asyncio.to_thread(pipeline_cli, stack, "schedule", "describe", name)
    assert (gone.returncode, gone.stderr.strip()) == (3, "error: no such schedule")
