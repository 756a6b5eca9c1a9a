"""comfy-sim's aiohttp application and a context manager that serves it for tests.

Every route exists twice, bare and under ``/api``, as on the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from aiohttp import web

from pipeline.standins.comfy_sim.api import api_routes
from pipeline.standins.comfy_sim.control import control_routes
from pipeline.standins.comfy_sim.files import file_routes
from pipeline.standins.comfy_sim.sim import Sim, SimConfig

SIM_KEY = web.AppKey("comfy_sim", Sim)
_TASKS_KEY = web.AppKey("comfy_sim_tasks", list[asyncio.Task[None]])


async def _start(app: web.Application) -> None:
    sim = app[SIM_KEY]
    app[_TASKS_KEY] = [
        asyncio.create_task(sim.hub.publish_forever(), name="comfy-sim publisher"),
        asyncio.create_task(sim.executor.run_forever(), name="comfy-sim executor"),
    ]


async def _shutdown(app: web.Application) -> None:
    await app[SIM_KEY].hub.close_all()


async def _stop(app: web.Application) -> None:
    tasks = app[_TASKS_KEY]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(config: SimConfig) -> web.Application:
    """An app serving a fresh comfy-sim over ``config.data_dir``."""
    sim = Sim(config)
    # ComfyUI's default --max-upload-size is 100 MB.
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app[SIM_KEY] = sim
    for method, path, handler in [*api_routes(sim), *file_routes(sim.dirs)]:
        app.router.add_route(method, "/api" + path, handler)
        app.router.add_route(method, path, handler)
    for method, path, handler in control_routes(sim):
        app.router.add_route(method, path, handler)
    app.on_startup.append(_start)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_stop)
    return app


@contextlib.asynccontextmanager
async def run_sim(
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path | None = None,
    step_delay: float = 0.02,
    hidden_models: frozenset[str] = frozenset(),
    renamed_models: Mapping[str, str] | None = None,
    text_encode_s: float = 0.0,
    model_load_s: float = 0.0,
) -> AsyncIterator[str]:
    """Serve comfy-sim until the block ends; yields its base URL (port 0 picks a free port).

    Without ``data_dir`` a temporary directory is used and removed afterwards.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="comfy-sim-")))
        runner = web.AppRunner(
            create_app(
                SimConfig(
                    data_dir,
                    step_delay,
                    hidden_models=hidden_models,
                    renamed_models=renamed_models or {},
                    text_encode_s=text_encode_s,
                    model_load_s=model_load_s,
                )
            ),
            access_log=None,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            # A wildcard bind is reachable on loopback; the URL must name a real address.
            yield f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{bound_port}"
        finally:
            await runner.cleanup()
