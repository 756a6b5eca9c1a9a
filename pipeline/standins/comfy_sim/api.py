"""comfy-sim's JSON routes: info, models, prompt, queue, history, interrupt, jobs (list,
one, cancel), free, ws.

Bodies and status codes follow the contract captures; a body that is not JSON makes
aiohttp answer ``500`` text/plain, exactly as the real server (also aiohttp) does.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import os
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from pipeline.standins.comfy_sim.files import Route
from pipeline.standins.comfy_sim.jobs import JOB_STATUSES, SORT_FIELDS, find_job, list_jobs
from pipeline.standins.comfy_sim.sim import Sim
from pipeline.standins.comfy_sim.tracebacks import validation_traceback
from workflows_comfy.validate import validate_graph

MODEL_FOLDERS = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "custom_nodes",
    "datasets",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
    "background_removal",
    "frame_interpolation",
    "geometry_estimation",
    "optical_flow",
    "detection",
    "unet_gguf",
    "clip_gguf",
)
"""``GET /models`` of ComfyUI 0.33.0 with the ComfyUI-GGUF pack (``folder_paths``)."""
FOLDER_OF_LOADER = {
    "diffusion_models": ("UNETLoader", "unet_name"),
    "loras": ("LoraLoaderModelOnly", "lora_name"),
    "vae": ("VAELoader", "vae_name"),
    "text_encoders": ("CLIPLoader", "clip_name"),
    "audio_encoders": ("AudioEncoderLoader", "audio_encoder_name"),
    "model_patches": ("ModelPatchLoader", "name"),
    "unet_gguf": ("UnetLoaderGGUF", "unet_name"),
}
"""``GET /models/{folder}`` lists the files the folder's loader offers in ``/object_info``
(one source of truth); ``VAELoader`` adds ``pixel_space``, which is no file."""
NOT_FILES = frozenset({"pixel_space"})


def _folder_listing(object_info: Mapping[str, Any], folder: str) -> list[str]:
    """The files in ``folder`` as the loaders of ``object_info`` list them (``[]`` if none)."""
    node, field = FOLDER_OF_LOADER.get(folder, ("", ""))
    entry = object_info.get(node)
    if entry is None:
        return []
    spec = entry["input"]["required"][field]
    names = spec[0] if isinstance(spec[0], list) else spec[1].get("options", [])
    return [name for name in names if name not in NOT_FILES]


@functools.cache
def _contract_system_stats() -> dict[str, Any]:
    resource = importlib.resources.files("pipeline.standins.comfy_sim").joinpath(
        "contract/system_stats.json"
    )
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def _system_stats() -> dict[str, Any]:
    """``contract/system_stats.json`` (ComfyUI 0.33.0) with this machine's memory and argv.

    Every field the real server answers is kept (``comfyui_version``,
    ``required_frontend_version``, ``installed_templates_version``, ``comfy_package_versions``,
    ``deploy_environment``, ``argv``...); only ``ram_*``, the device's ``*vram*`` (a CPU
    device reports RAM there, as ComfyUI's ``--cpu`` does) and ``argv`` are the sim's own.
    """
    page = os.sysconf("SC_PAGE_SIZE")
    total, free = os.sysconf("SC_PHYS_PAGES") * page, os.sysconf("SC_AVPHYS_PAGES") * page
    stats = copy.deepcopy(_contract_system_stats())
    stats["system"].update(ram_total=total, ram_free=free, argv=list(sys.argv))
    for device in stats["devices"]:
        device.update(
            vram_total=total, vram_free=free, torch_vram_total=total, torch_vram_free=free
        )
    return stats


def _no_prompt() -> web.Response:
    error = {
        "type": "no_prompt",
        "message": "No prompt provided",
        "details": "No prompt provided",
        "extra_info": {},
    }
    return web.json_response({"error": error, "node_errors": {}}, status=400)


def _jobs_query(query: Mapping[str, str]) -> dict[str, Any] | str:
    """``GET /api/jobs``'s query as ``list_jobs`` arguments, or the 400's ``error`` text
    (ComfyUI 0.33.0 ``server.py`` ``get_jobs``): ``status`` comma-separated ``JOB_STATUSES``,
    ``sort_by`` ``created_at``/``execution_duration``, ``sort_order`` ``asc``/``desc`` (both
    case-insensitive), ``limit`` a positive integer, ``offset`` an integer (negative is 0)."""
    statuses = None
    if query.get("status"):
        statuses = [s.strip().lower() for s in query["status"].split(",") if s.strip()]
        invalid = [s for s in statuses if s not in JOB_STATUSES]
        if invalid:
            return (
                f"Invalid status value(s): {', '.join(invalid)}. "
                f"Valid values: {', '.join(JOB_STATUSES)}"
            )
    sort_by = query.get("sort_by", "created_at").lower()
    sort_order = query.get("sort_order", "desc").lower()
    if sort_by not in SORT_FIELDS:
        return "sort_by must be 'created_at' or 'execution_duration'"
    if sort_order not in ("asc", "desc"):
        return "sort_order must be 'asc' or 'desc'"
    limit = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            return "limit must be an integer"
        if limit <= 0:
            return "limit must be a positive integer"
    offset = 0
    if "offset" in query:
        try:
            offset = max(int(query["offset"]), 0)
        except ValueError:
            return "offset must be an integer"
    return {
        "statuses": statuses,
        "workflow_id": query.get("workflow_id"),
        "sort_by": sort_by,
        "sort_order": sort_order,
        "limit": limit,
        "offset": offset,
    }


def api_routes(sim: Sim) -> list[Route]:
    async def system_stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(_system_stats())

    async def object_info(request: web.Request) -> web.StreamResponse:
        return web.json_response(sim.served_object_info())

    async def object_info_node(request: web.Request) -> web.StreamResponse:
        return web.json_response(sim.served_object_info(request.match_info["node_class"]))

    async def features(request: web.Request) -> web.StreamResponse:
        return web.json_response({"supports_preview_metadata": True, "max_upload_size": 104857600})

    async def embeddings(request: web.Request) -> web.StreamResponse:
        return web.json_response([])

    async def models(request: web.Request) -> web.StreamResponse:
        return web.json_response(list(MODEL_FOLDERS))

    async def models_in(request: web.Request) -> web.StreamResponse:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response(_folder_listing(sim.object_info, folder))

    async def get_queue(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"queue_running": sim.queue.running, "queue_pending": sim.queue.pending}
        )

    async def get_prompt(request: web.Request) -> web.StreamResponse:
        return web.json_response(sim.queue_info())

    async def post_prompt(request: web.Request) -> web.StreamResponse:
        data = await request.json()
        if "number" in data:
            number: float = float(data["number"])
        else:
            number = -sim.number if data.get("front") else sim.number
            sim.number += 1
        if "prompt" not in data:
            return _no_prompt()
        prompt_id = str(data.get("prompt_id", uuid.uuid4()))
        checked = validate_graph(
            data["prompt"],
            sim.object_info,
            sim.dirs.input_files(),
            tracebacks=validation_traceback,
        )
        extra = dict(data.get("extra_data", {}))
        if "client_id" in data:
            extra["client_id"] = data["client_id"]
        if not checked.ok:
            return web.json_response(
                {"error": checked.error, "node_errors": checked.node_errors}, status=400
            )
        # ComfyUI 0.33.0 server.py: when the prompt was queued, in ms; /history shows it.
        extra["create_time"] = int(time.time() * 1000)
        sim.queue.put((number, prompt_id, checked.prompt, extra, checked.outputs_to_execute))
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": checked.node_errors}
        )

    async def post_queue(request: web.Request) -> web.StreamResponse:
        data = await request.json()
        if data.get("clear"):
            sim.queue.wipe()
        for prompt_id in data.get("delete", []):
            sim.queue.delete(prompt_id)
        return web.Response(status=200)

    async def get_history(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query["offset"]) if "offset" in query else -1
        return web.json_response(sim.queue.history(max_items=max_items, offset=offset))

    async def get_history_item(request: web.Request) -> web.StreamResponse:
        return web.json_response(sim.queue.history(prompt_id=request.match_info["prompt_id"]))

    async def post_history(request: web.Request) -> web.StreamResponse:
        data = await request.json()
        if data.get("clear"):
            sim.queue.wipe_history()
        for prompt_id in data.get("delete", []):
            sim.queue.delete_history(prompt_id)
        return web.Response(status=200)

    async def post_interrupt(request: web.Request) -> web.StreamResponse:
        try:
            data = json.loads(await request.text())
        except json.JSONDecodeError:
            data = {}
        sim.record["interrupt"].append(data)
        target = data.get("prompt_id")
        if not target or any(item[1] == target for item in sim.queue.running):
            sim.executor.interrupt()
        return web.Response(status=200)

    async def get_jobs(request: web.Request) -> web.StreamResponse:
        """ComfyUI 0.33.0 ``GET /api/jobs`` (server.py ``get_jobs``, comfy_execution/jobs.py
        ``get_all_jobs``): ``{"jobs": [job...], "pagination": {"offset", "limit" (null when
        not given), "total" (before paging), "has_more"}}``; a bad query is 400
        ``{"error": text}`` (``_jobs_query``)."""
        parsed = _jobs_query(request.rel_url.query)
        if isinstance(parsed, str):
            return web.json_response({"error": parsed}, status=400)
        history = sim.queue.history()
        jobs, total = list_jobs(sim.queue.running, sim.queue.pending, history, **parsed)
        offset, limit = parsed["offset"], parsed["limit"]
        pagination = {
            "offset": offset,
            "limit": limit,
            "total": total,
            "has_more": offset + len(jobs) < total,
        }
        return web.json_response({"jobs": jobs, "pagination": pagination})

    async def get_job(request: web.Request) -> web.StreamResponse:
        """ComfyUI 0.33.0 ``GET /api/jobs/{id}`` (server.py ``get_job_by_id``,
        comfy_execution/jobs.py ``get_job``): the job with its ``outputs``,
        ``execution_status`` and ``workflow`` once in ``/history``, else the running or
        pending item's job; an unknown id is 404 ``{"error": "Job not found"}``."""
        job_id = request.match_info["job_id"]
        history = sim.queue.history(prompt_id=job_id)
        job = find_job(job_id, sim.queue.running, sim.queue.pending, history)
        if job is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(job)

    async def cancel_job(request: web.Request) -> web.StreamResponse:
        """ComfyUI 0.33.0 ``POST /api/jobs/{id}/cancel`` (server.py, comfy_execution/jobs.py):
        a running prompt is interrupted, a pending one dequeued; a finished or unknown id is a
        no-op. Answers ``{"cancelled": bool}``, always 200."""
        job_id = request.match_info["job_id"]
        if any(item[1] == job_id for item in sim.queue.running):
            sim.executor.interrupt()
            return web.json_response({"cancelled": True})
        if any(item[1] == job_id for item in sim.queue.pending):
            sim.queue.delete(job_id)
            return web.json_response({"cancelled": True})
        return web.json_response({"cancelled": False})

    async def post_free(request: web.Request) -> web.StreamResponse:
        data = await request.json()
        sim.record["free"].append(data)
        if data.get("free_memory", False):
            sim.executor.free_memory()
        return web.Response(status=200)

    async def websocket(request: web.Request) -> web.StreamResponse:
        return await sim.hub.handle(request, sim.queue_info())

    return [
        ("GET", "/ws", websocket),
        ("GET", "/system_stats", system_stats),
        ("GET", "/object_info", object_info),
        ("GET", "/object_info/{node_class}", object_info_node),
        ("GET", "/features", features),
        ("GET", "/embeddings", embeddings),
        ("GET", "/models", models),
        ("GET", "/models/{folder}", models_in),
        ("GET", "/queue", get_queue),
        ("POST", "/queue", post_queue),
        ("GET", "/prompt", get_prompt),
        ("POST", "/prompt", post_prompt),
        ("GET", "/history", get_history),
        ("GET", "/history/{prompt_id}", get_history_item),
        ("POST", "/history", post_history),
        ("POST", "/interrupt", post_interrupt),
        # ComfyUI 0.33.0 server.py declares these under /api itself (so it also has
        # /api/api/jobs, and no bare /jobs), as the sim's bare-and-/api doubling then does.
        ("GET", "/api/jobs", get_jobs),
        ("GET", "/api/jobs/{job_id}", get_job),
        ("POST", "/api/jobs/{job_id}/cancel", cancel_job),
        ("POST", "/free", post_free),
    ]
