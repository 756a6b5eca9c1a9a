"""Entry point: builds settings and logging once, then dispatches to a subcommand."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from pipeline.config import ConfigError, Settings, load_settings
from pipeline.domain.errors import PipelineError
from pipeline.logging import configure_logging


@dataclass
class App:
    settings: Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Bucket drops in, Wan videos out: a Temporal pipeline around ComfyUI."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = App(settings)


def _register() -> None:
    from pipeline.cli import doctor, drop, schedules, services, stack, status, workers

    for module in (doctor, drop, schedules, services, stack, status, workers):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except PipelineError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
