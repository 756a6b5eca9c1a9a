"""``ComfyClient`` over ``httpx.MockTransport``, answering with the exchanges a real ComfyUI
server gave (``tests/data/comfyui_contract/http``): what it sends, what it returns, and which
``pipeline.domain.errors`` class each failure becomes. No server; the client against
comfy-sim is ``tests/integration/test_comfy_client.py``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.comfy.client import ComfyClient
from pipeline.domain.errors import ComfyError, GraphError, WorkerUnavailable

CONTRACT = Path(__file__).parents[1] / "data" / "comfyui_contract"
BASE = "http://comfy.test:8188"


def captured(name: str) -> dict[str, Any]:
    """One recorded exchange: ``method``, ``path``, ``request``, ``status``, ``body``."""
    exchange: dict[str, Any] = json.loads((CONTRACT / "http" / f"{name}.json").read_text())
    return exchange


def answer(exchange: dict[str, Any]) -> httpx.Response:
    return httpx.Response(exchange["status"], json=exchange["body"])


class Server:
    """Answers ``(method, path)`` with ``routes``' response (404 otherwise); keeps every
    request, its body read, in ``seen``."""

    def __init__(self, routes: dict[tuple[str, str], Callable[[], httpx.Response]]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.seen.append(request)
        respond = self.routes.get((request.method, request.url.path))
        return respond() if respond else httpx.Response(404)

    def client(self) -> ComfyClient:
        transport = httpx.MockTransport(self)
        return ComfyClient(BASE, http=httpx.AsyncClient(transport=transport), client_id="c-1")

    def sent(self) -> list[tuple[str, str, Any]]:
        """(method, path, JSON body or None) of each request, in order."""
        return [
            (r.method, r.url.path, json.loads(r.content) if r.content else None) for r in self.seen
        ]


async def test_submit_posts_the_graph_with_the_client_id_and_returns_the_prompt_id() -> None:
    exchange = captured("post_prompt_a_success_core")
    server = Server({("POST", "/prompt"): lambda: answer(exchange)})
    graph = exchange["request"]["json"]["prompt"]

    async with server.client() as comfy:
        prompt_id = await comfy.submit(graph)

    assert prompt_id == exchange["body"]["prompt_id"]
    assert server.sent() == [("POST", "/prompt", {"prompt": graph, "client_id": "c-1"})]


async def test_a_graph_the_server_refuses_is_a_graph_error_not_retried() -> None:
    exchange = captured("post_prompt_err_unknown_class_type")
    assert exchange["status"] == 400
    server = Server({("POST", "/prompt"): lambda: answer(exchange)})

    async with server.client() as comfy:
        with pytest.raises(GraphError) as raised:
            await comfy.submit(exchange["request"]["json"]["prompt"])

    assert not raised.value.retryable
    assert "NoSuchNodeXYZ" in raised.value.message
    assert raised.value.detail["status"] == 400


async def test_a_graph_with_one_invalid_output_is_taken_off_the_queue_and_refused() -> None:
    exchange = captured("post_prompt_partial_one_output_invalid")
    prompt_id = exchange["body"]["prompt_id"]

    def ok() -> httpx.Response:
        return httpx.Response(200)

    server = Server(
        {
            ("POST", "/prompt"): lambda: answer(exchange),
            ("POST", "/queue"): ok,
            ("POST", "/interrupt"): ok,
        }
    )

    async with server.client() as comfy:
        with pytest.raises(GraphError, match="999999"):
            await comfy.submit(exchange["request"]["json"]["prompt"])

    assert server.sent()[1:] == [
        ("POST", "/queue", {"delete": [prompt_id]}),
        ("POST", "/interrupt", {"prompt_id": prompt_id}),
    ]


async def test_history_reads_a_finished_prompt_and_none_for_one_not_run() -> None:
    body = json.loads((CONTRACT / "history" / "a_success_core.json").read_text())
    (prompt_id,) = body
    unknown = captured("get_history_unknown_id")
    server = Server(
        {
            ("GET", f"/history/{prompt_id}"): lambda: httpx.Response(200, json=body),
            ("GET", unknown["path"]): lambda: answer(unknown),
        }
    )

    async with server.client() as comfy:
        entry = await comfy.history(prompt_id)
        pending = await comfy.history(unknown["path"].rsplit("/", 1)[1])

    assert entry is not None
    assert entry.succeeded
    assert [f.filename for f in entry.output_files()] == ["core_00001_.png"]
    assert pending is None


async def test_an_unreadable_history_record_is_a_comfy_error() -> None:
    server = Server({("GET", "/history/p-1"): lambda: httpx.Response(200, text="<html>")})

    async with server.client() as comfy:
        with pytest.raises(ComfyError, match="unreadable /history record for p-1"):
            await comfy.history("p-1")


async def test_a_server_error_status_is_a_retryable_comfy_error() -> None:
    server = Server({("GET", "/history/p-1"): lambda: httpx.Response(502, text="bad gateway")})

    async with server.client() as comfy:
        with pytest.raises(ComfyError) as raised:
            await comfy.history("p-1")

    assert type(raised.value) is ComfyError
    assert raised.value.retryable
    assert raised.value.detail == {"path": "/history/p-1", "status": 502}


async def test_an_unreachable_server_is_worker_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    async with ComfyClient(BASE, http=http) as comfy:
        with pytest.raises(WorkerUnavailable) as raised:
            await comfy.submit({})

    assert raised.value.retryable
    assert raised.value.detail == {"path": "/prompt"}


async def test_upload_streams_the_file_and_returns_the_name_load_image_takes() -> None:
    exchange = captured("post_upload_image_subfolder")
    server = Server({("POST", "/upload/image"): lambda: answer(exchange)})

    async with server.client() as comfy:
        name = await comfy.upload("sub_in.png", b"\x89PNG-bytes", subfolder="contract_sub")

    assert name == "contract_sub/sub_in.png"
    (request,) = server.seen
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'filename="sub_in.png"' in request.content
    assert b"\x89PNG-bytes" in request.content
