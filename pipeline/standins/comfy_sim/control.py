"""comfy-sim's own routes, outside ComfyUI's API (so not under ``/api``): faults and records.

- ``GET /`` says what the server is (where ComfyUI serves its web UI).
- ``POST /sim/faults {"faults": [...]}`` queues faults (``faults.Fault``: node faults and
  defects); answers ``{"queued": n}`` (all still queued), or 400 saying why not.
- ``GET /sim/faults`` lists the faults still queued.
- ``GET /sim/record`` lists the bodies of every ``POST /free`` and ``POST /interrupt``.
- ``POST /sim/models {"hidden": [name, ...]}`` takes model files out of the loaders' lists
  from now on (as if deleted from ``models/``); ``[]`` offers everything again.
- ``GET /sim/models`` answers ``{"hidden": [...]}``.
"""

from __future__ import annotations

import json

from aiohttp import web

from pipeline.standins.comfy_sim.faults import Fault
from pipeline.standins.comfy_sim.files import Route
from pipeline.standins.comfy_sim.sim import Sim

INDEX = (
    "comfy-sim: a stand-in for ComfyUI's HTTP + WebSocket API (it has no web UI).\n"
    "It validates graphs against the real /object_info and renders numbered frames.\n"
    "  GET /object_info  the node types it accepts\n"
    "  GET /queue        prompts running and pending\n"
    "  GET /history      finished prompts and their outputs\n"
    "  GET /sim/record   the /free and /interrupt requests it received\n"
)
"""``GET /``: what this server is, where ComfyUI would serve its web UI."""


def control_routes(sim: Sim) -> list[Route]:
    async def post_faults(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.text())
            raw = body["faults"] if isinstance(body, dict) else None
            if not isinstance(raw, list):
                raise ValueError('the body must be {"faults": [...]}')
            faults = [Fault.parse(item) for item in raw]
        except (ValueError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        sim.executor.faults.add(faults)
        return web.json_response({"queued": len(sim.executor.faults.pending)})

    async def get_faults(request: web.Request) -> web.StreamResponse:
        return web.json_response({"faults": [f.to_json() for f in sim.executor.faults.pending]})

    async def get_record(request: web.Request) -> web.StreamResponse:
        return web.json_response(sim.record)

    async def post_models(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.text())
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        hidden = body.get("hidden") if isinstance(body, dict) else None
        if not isinstance(hidden, list) or not all(isinstance(n, str) for n in hidden):
            return web.json_response(
                {"error": 'the body must be {"hidden": ["file name", ...]}'}, status=400
            )
        sim.hide_models(frozenset(hidden))
        return web.json_response({"hidden": sorted(sim.hidden_models)})

    async def get_models(request: web.Request) -> web.StreamResponse:
        return web.json_response({"hidden": sorted(sim.hidden_models)})

    async def get_index(request: web.Request) -> web.StreamResponse:
        # The real server serves its web UI here; the stand-in has none, and a link the
        # stack prints must not end in a 404.
        return web.Response(text=INDEX)

    return [
        ("GET", "/", get_index),
        ("POST", "/sim/models", post_models),
        ("GET", "/sim/models", get_models),
        ("POST", "/sim/faults", post_faults),
        ("GET", "/sim/faults", get_faults),
        ("GET", "/sim/record", get_record),
    ]
