"""``pipeline doctor``: one line per check of the configured deployment; exit 1 on any FAIL."""

from __future__ import annotations

import asyncio
import sys

import click

from pipeline.cli.context import App
from pipeline.doctor import run_checks


@click.command()
@click.pass_obj
def doctor(app: App) -> None:
    """Check storage, events, Temporal, workers and ComfyUI; say what to fix."""
    checks = asyncio.run(run_checks(app.settings))
    for check in checks:
        click.echo(check.line())
    failures = sum(not check.ok for check in checks)
    click.echo(f"{len(checks) - failures} ok, {failures} failed")
    sys.exit(1 if failures else 0)


COMMANDS = [doctor]
