"""comfy-sim answers HTTP as the real ComfyUI 0.33.0 did, exchange for exchange.

``pipeline comfyui capture`` runs against one comfy-sim exactly as it ran against the real
server for ``pipeline/standins/comfy_sim/contract/`` (every scenario, in the same order, so
the server is in the same state at each exchange: the same nine jobs in ``/api/jobs``, the
same queue numbers, a pending prompt behind a running one). Then every
``contract/http/NAME.json`` there is must have its twin in the sim's capture, and
``tests.comfy_exchanges`` must find no difference: status codes, the bodies' shapes, and the
values that are protocol (job statuses, ``cancelled``, error types, event names...). So must
``/system_stats``. The queries and errors the capture does not exercise are held to
ComfyUI 0.33.0's ``server.py`` ``get_jobs`` / ``get_job_by_id`` below.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pipeline.standins.comfy_sim import run_sim
from tests.capture_checks import invoke
from tests.comfy_exchanges import body_differences, differences
from tests.helpers import eventually, png

pytestmark = pytest.mark.integration

CONTRACT = Path(str(importlib.resources.files("pipeline.standins.comfy_sim"))) / "contract"
REAL = sorted(path.stem for path in (CONTRACT / "http").glob("*.json"))
"""The real server's exchanges, whichever the last capture wrote."""
STEP_DELAY = 0.3
"""Seconds per simulated step: long enough that ``http_jobs`` and ``http_cancel`` find their
prompt still running when they ask, as on the real server."""


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def captured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Path]:
    """The folder of one whole capture of a fresh comfy-sim."""
    out = tmp_path_factory.mktemp("capture")
    async with run_sim("127.0.0.1", 0, tmp_path_factory.mktemp("sim"), STEP_DELAY) as url:
        code, _, stderr = await asyncio.to_thread(
            invoke, "comfyui", "capture", "--url", url, "--out", str(out)
        )
    assert code == 0, stderr
    yield out


@pytest.mark.asyncio(loop_scope="module")
async def test_the_sim_capture_has_every_real_exchange(captured: Path) -> None:
    sim = sorted(path.stem for path in (captured / "http").glob("*.json"))

    assert REAL
    assert sim == REAL


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", REAL)
async def test_the_sim_answers_as_the_real_server(name: str, captured: Path) -> None:
    real = read(CONTRACT / "http" / f"{name}.json")
    sim = read(captured / "http" / f"{name}.json")

    assert differences(real, sim) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_system_stats_has_the_real_shape(captured: Path) -> None:
    real = read(CONTRACT / "system_stats.json")
    sim = read(captured / "system_stats.json")

    assert body_differences(real, sim) == []


@pytest_asyncio.fixture(loop_scope="module")
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with run_sim("127.0.0.1", 0, tmp_path) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            "status=done,failed",
            "Invalid status value(s): done. "
            "Valid values: pending, in_progress, completed, failed, cancelled",
        ),
        ("sort_by=name", "sort_by must be 'created_at' or 'execution_duration'"),
        ("sort_order=up", "sort_order must be 'asc' or 'desc'"),
        ("limit=0", "limit must be a positive integer"),
        ("limit=many", "limit must be an integer"),
        ("offset=x", "offset must be an integer"),
    ],
)
async def test_a_bad_jobs_query_is_400_with_the_servers_text(
    http: httpx.AsyncClient, query: str, error: str
) -> None:
    response = await http.get(f"/api/jobs?{query}")

    assert (response.status_code, response.json()) == (400, {"error": error})


@pytest.mark.asyncio(loop_scope="module")
async def test_an_unknown_job_is_404_and_jobs_are_only_under_api(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(f"/api/jobs/{uuid.uuid4()}")

    assert (response.status_code, response.json()) == (404, {"error": "Job not found"})
    assert (await http.get("/jobs")).status_code == 404
    assert (await http.get("/api/api/jobs")).status_code == 200


@pytest.mark.asyncio(loop_scope="module")
async def test_jobs_query_pages_and_filters(http: httpx.AsyncClient) -> None:
    empty = (await http.get("/api/jobs", params={"status": "PENDING, ", "offset": "-3"})).json()

    assert empty == {
        "jobs": [],
        "pagination": {"offset": 0, "limit": None, "total": 0, "has_more": False},
    }
    files = {"image": ("a.png", png(64, 64), "application/octet-stream")}
    assert (await http.post("/upload/image", files=files)).status_code == 200
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "j"}},
    }
    posted = []
    for _ in range(3):
        answer = await http.post("/prompt", json={"prompt": graph, "client_id": "t"})
        posted.append(answer.json()["prompt_id"])
        await asyncio.sleep(0.01)  # create_time is in ms: keep the three apart.

    async def all_completed() -> bool:
        done = (await http.get("/api/jobs", params={"status": "completed"})).json()
        return bool(done["pagination"]["total"] == 3)

    await eventually(all_completed)
    page = (await http.get("/api/jobs", params={"limit": "1", "offset": "1"})).json()
    oldest = (await http.get("/api/jobs", params={"sort_order": "ASC", "limit": "1"})).json()

    assert page["pagination"] == {"offset": 1, "limit": 1, "total": 3, "has_more": True}
    assert [job["id"] for job in page["jobs"]] == [posted[1]]
    assert [job["id"] for job in oldest["jobs"]] == [posted[0]]
    assert page["jobs"][0]["preview_output"]["type"] == "output"
