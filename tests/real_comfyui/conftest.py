"""The real tier's stack: the embedded stack with a real ComfyUI from ``COMFYUI_DIR``.

One stack for the whole tier (Temporal, SeaweedFS, that ComfyUI on tiny weights, both
workers and the ingest consumer, supervised, so killed processes come back), its GPU worker
running the tier's profile (``tests.real_comfyui.profile``). Tiny weights are written once
per run (about 8 s) unless ``COMFYUI_MODELS_DIR`` names a folder that has them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pipeline.stack.embedded import private_settings, stack_config_for
from pipeline.stack.supervisor import Stack
from pipeline.weights.tiny import tiny_specs, write_file
from tests.isolation import ORIGINAL_ENV
from tests.real_comfyui.real_support import RealStack

ROOT = Path(__file__).parents[2]


def _models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = ORIGINAL_ENV.get("COMFYUI_MODELS_DIR")
    specs = tiny_specs()
    if given and all((Path(given) / spec.path).is_file() for spec in specs):
        return Path(given)
    models = tmp_path_factory.mktemp("tiny-models")
    for spec in specs:
        write_file(spec, models)
    return models


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def real_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RealStack]:
    state = tmp_path_factory.mktemp("real-stack")
    variables = {"COMFYUI_DIR": ORIGINAL_ENV["COMFYUI_DIR"]}
    if ORIGINAL_ENV.get("COMFYUI_PYTHON"):
        variables["COMFYUI_PYTHON"] = ORIGINAL_ENV["COMFYUI_PYTHON"]
    settings = private_settings(
        state,
        COMFYUI_MODELS_DIR=str(_models_dir(tmp_path_factory)),
        R2_BUCKET_NAME="real-comfyui",
        MEDIA_GRACE_S="8",
        **variables,
    )
    config = stack_config_for(settings)
    profiled = [sys.executable, "-m", "tests.real_comfyui.gpu_worker"]
    config = dataclasses.replace(
        config,
        children=[
            dataclasses.replace(child, argv=profiled, env={**child.env, "PYTHONPATH": str(ROOT)})
            if child.name == "worker-gpu"
            else child
            for child in config.children
        ],
    )
    stack = Stack(config)
    await stack.start()
    stop = asyncio.Event()
    supervising = asyncio.create_task(stack.supervise(stop))
    try:
        yield RealStack(settings, stack)
    finally:
        stop.set()
        await supervising
        await stack.stop()
