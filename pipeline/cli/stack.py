"""``pipeline up`` / ``pipeline down``: the embedded stack, foreground or detached."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import click

from pipeline.cli.context import App
from pipeline.config import Settings, load_settings
from pipeline.domain.errors import ConfigError, PortInUse, StartupError
from pipeline.stack.embedded import stack_config_for
from pipeline.stack.seaweedfs import check_free_space
from pipeline.stack.services import log_dir
from pipeline.stack.state import (
    StackEndpoints,
    leftover_processes,
    read_pidfile,
    read_ready_file,
    stop_detached,
    supervisor_log_path,
    wait_until_ready,
)
from pipeline.stack.supervisor import Stack, check_ports_free


@click.command()
@click.option(
    "--detach", is_flag=True, help="Return once every service answers and the workers poll."
)
@click.option(
    "--comfyui-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Run this ComfyUI checkout instead of comfy-sim (COMFYUI_DIR).",
)
@click.option(
    "--comfyui-python",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The Python that runs it (COMFYUI_PYTHON; default: its venv, else python3).",
)
@click.option(
    "--comfyui-models-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Its models folder (COMFYUI_MODELS_DIR; default: the checkout's models/).",
)
@click.option("--no-comfy-sim", is_flag=True, help="Run no ComfyUI: use the one at COMFYUI_URL.")
@click.option("--reuse", is_flag=True, help="If this stack already runs, print it and succeed.")
@click.pass_obj
def up(
    app: App,
    detach: bool,
    comfyui_dir: Path | None,
    comfyui_python: Path | None,
    comfyui_models_dir: Path | None,
    no_comfy_sim: bool,
    reuse: bool,
) -> None:
    """Start Temporal, SeaweedFS (as R2), ComfyUI (comfy-sim unless --comfyui-dir), the
    workers and the ingest consumer."""
    checkout = {
        "COMFYUI_DIR": comfyui_dir,
        "COMFYUI_PYTHON": comfyui_python,
        "COMFYUI_MODELS_DIR": comfyui_models_dir,
    }
    overrides = {name: str(value) for name, value in checkout.items() if value is not None}
    settings = _with(app.settings, overrides)
    if no_comfy_sim and settings.comfyui_dir is not None:
        raise click.UsageError("--no-comfy-sim runs no ComfyUI; it cannot go with COMFYUI_DIR")
    state_dir = settings.state_dir
    running = read_pidfile(state_dir)
    if running is not None:
        endpoints = read_ready_file(state_dir)
        if reuse and endpoints is not None:
            click.echo(f"reusing the stack already running (pid {running})")
            _print_endpoints(endpoints)
            return
        raise click.ClickException(
            f"a stack is already running (pid {running}); stop it with 'pipeline down'"
        )
    leftovers = leftover_processes(state_dir)
    if leftovers:
        names = ", ".join(f"{name} (pid {pid})" for name, pid in leftovers.items())
        raise click.ClickException(
            f"an earlier stack's processes still run without their supervisor: {names}; "
            "stop them with 'pipeline down'"
        )
    config = stack_config_for(settings, run_comfy=not no_comfy_sim)
    try:
        check_ports_free(config.public_ports())
    except PortInUse as exc:
        raise click.ClickException(f"{exc}{_another_state_dir(app)}") from None
    check_free_space(state_dir)  # ConfigError: one line, exit 2
    if detach:
        log_path = supervisor_log_path(state_dir)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "pipeline", "up"] + (
            ["--no-comfy-sim"] if no_comfy_sim else []
        )
        with log_path.open("ab") as log:
            supervisor = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, **overrides},
            )
        try:
            endpoints = asyncio.run(wait_until_ready(state_dir, supervisor.pid))
        except StartupError as exc:
            raise startup_failed(exc, log_path) from None
        _print_endpoints(endpoints)
        return
    stack = Stack(config)
    try:
        code = asyncio.run(stack.run_foreground())
    except StartupError as exc:
        raise startup_failed(exc, log_dir(state_dir) / f"{exc.name}.log") from None
    except (PortInUse, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


TAIL_SHOWN = 15
"""How many of a failed child's last log lines ``up`` shows above its error line."""


def startup_failed(exc: StartupError, log_path: Path) -> click.ClickException:
    """Show the failing process's own last log lines on stderr, and return the one error
    line to exit with: what failed, how, and its last log line, which names the cause.

    For ``--detach`` the process is the supervisor, whose log ends with the same for the
    child that failed (its foreground ``up`` printed them)."""
    lines = [line for line in exc.log_tail.splitlines() if line.strip()][-TAIL_SHOWN:]
    if not lines:
        return click.ClickException(f"{exc.name} {exc.reason}; its log {log_path} is empty")
    click.echo(f"last lines of {log_path}:", err=True)
    for line in lines:
        click.echo(f"  | {line}", err=True)
    cause = lines[-1].strip().removeprefix("error: ")
    return click.ClickException(f"{exc.name} {exc.reason}: {cause}")


def _with(settings: Settings, overrides: dict[str, str]) -> Settings:
    """``settings`` with the command line's variables on top, validated as at start-up."""
    if not overrides:
        return settings
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.UsageError(exc.message) from None


def _print_endpoints(endpoints: StackEndpoints) -> None:
    click.echo("stack ready")
    click.echo(f"  Temporal UI : {endpoints.ui_url}")
    click.echo(f"  Temporal    : {endpoints.temporal_address}")
    click.echo(f"  S3 (as R2)  : {endpoints.s3_endpoint}  bucket {endpoints.bucket}")
    click.echo(f"  events      : {endpoints.events}")
    if endpoints.comfy_url:
        source = endpoints.comfy_source or "comfy-sim"
        click.echo(f"  ComfyUI     : {endpoints.comfy_url} ({source})")
    for child, url in endpoints.metrics.items():
        click.echo(f"  metrics     : {url} ({child})")


@click.command()
@click.pass_obj
def down(app: App) -> None:
    """Stop the stack of this state dir, also one whose supervisor died."""
    if asyncio.run(stop_detached(app.settings.state_dir)):
        click.echo("stack stopped")
        return
    try:
        check_ports_free(stack_config_for(app.settings).public_ports())
    except PortInUse as exc:
        click.echo(f"no stack runs from this state dir, but {exc}{_another_state_dir(app)}")
        return
    click.echo("no stack was running")


def _another_state_dir(app: App) -> str:
    """The likely cause of a held port when this state dir has no stack: another one has."""
    return (
        f" (a stack started with another PIPELINE_STATE_DIR than {app.settings.state_dir.resolve()}"
        "? run 'pipeline down' there)"
    )


COMMANDS = [up, down]
