"""Tests never read, nor disturb, a stack the user runs on the same machine.

``make demo`` leaves the embedded stack running on the default ports with its state in
``.state``, and the user's shell may export ``R2_*``, ``TEMPORAL_*`` or ``PIPELINE_*`` for
a deployment. Before any test is collected (``tests/conftest.py``), ``isolate`` removes every
variable ``Settings`` reads (and any other ``PIPELINE_``/``R2_``/``TEMPORAL_``/``COMFYUI_``/
``SQS_``/``CF_``/``WEBHOOK_``/``CALLBACK_`` one) from the environment, then points:

- ``PIPELINE_STATE_DIR`` and ``PIPELINE_WORK_DIR`` at a private folder, so no test reads a
  running stack's ``processes.json`` or removes a running worker's scratch files;
- ``XDG_CONFIG_HOME`` there too, so the Temporal client reads no user profile
  (``~/.config/temporalio/temporal.toml``) but a default one of the run's own;
- every service address that defaults to the embedded stack's port (S3, filer, the Temporal
  UI, ComfyUI, the webhook; Temporal through that default profile) at a loopback port held
  bound but not listening for the whole run: a test that forgets to name its own service is
  refused at once, never served by the user's stack, and no service a test starts can take
  that port.

Variables a test tier takes from the user (``PIPELINE_TEST_*``, ``PIPELINE_RECORD_HISTORIES``,
and the real tier's ``COMFYUI_DIR``, ``COMFYUI_PYTHON``, ``COMFYUI_MODELS_DIR``) are read from
``ORIGINAL_ENV``, the environment as pytest started.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from pipeline.config import Settings

ORIGINAL_ENV: dict[str, str] = dict(os.environ)
"""The environment before ``isolate`` changed it."""

KEPT = ("PIPELINE_TEST_", "PIPELINE_RECORD_HISTORIES")
"""Variables of the tests themselves, which stay set."""
PREFIXES = (
    "PIPELINE_", "R2_", "TEMPORAL_", "COMFYUI_", "SQS_", "CF_", "WEBHOOK_", "CALLBACK_",
    "GPU_", "SEAWEEDFS_",
)  # fmt: skip
"""Prefixes of the pipeline's own variables, including any a newer ``Settings`` may add."""


class Isolation:
    """What ``isolate`` holds for the run: the private folder and the reserved ports."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pipeline-tests-"))
        self._held: list[socket.socket] = []

    def dead_port(self) -> int:
        """A loopback port bound, never listened on, until ``close``: connections to it
        are refused and nothing else can bind it."""
        held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.bind(("127.0.0.1", 0))
        self._held.append(held)
        port: int = held.getsockname()[1]
        return port

    def close(self) -> None:
        for held in self._held:
            held.close()
        shutil.rmtree(self.root, ignore_errors=True)


def pipeline_variables(environ: dict[str, str]) -> list[str]:
    """The names in ``environ`` that configure the pipeline, the tests' own excepted."""
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    return [
        name
        for name in environ
        if (name in aliases or name.startswith(PREFIXES)) and not name.startswith(KEPT)
    ]


def isolate() -> Isolation:
    """Clear the pipeline's variables from ``os.environ`` and point it at private state and
    dead ports (module docstring). Call ``close`` on the result when the run ends."""
    for name in pipeline_variables(dict(os.environ)):
        del os.environ[name]
    isolation = Isolation()
    dead = isolation.dead_port
    filer, filer_grpc = dead(), dead()
    # Temporal's address comes from the default profile, not TEMPORAL_ADDRESS: a variable
    # would win over the profiles the Temporal client's tests write (as in the SDK).
    profile = isolation.root / "config" / "temporalio" / "temporal.toml"
    profile.parent.mkdir(parents=True)
    profile.write_text(f'[profile.default]\naddress = "127.0.0.1:{dead()}"\n')
    os.environ.update(
        {
            "PIPELINE_STATE_DIR": str(isolation.root / "state"),
            "PIPELINE_WORK_DIR": str(isolation.root / "work"),
            "XDG_CONFIG_HOME": str(profile.parents[1]),
            "R2_ENDPOINT_URL": f"http://127.0.0.1:{dead()}",
            "SEAWEEDFS_FILER": f"127.0.0.1:{filer}.{filer_grpc}",
            "TEMPORAL_UI_URL": f"http://127.0.0.1:{dead()}",
            "COMFYUI_URL": f"http://127.0.0.1:{dead()}",
            "WEBHOOK_PORT": str(dead()),
        }
    )
    return isolation
