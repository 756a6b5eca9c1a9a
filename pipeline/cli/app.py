"""Entry point: builds settings and logging once, then dispatches to a subcommand."""

from __future__ import annotations

import sys

import click

from pipeline.cli import doctor, drop, models, schedules, services, stack, status, workers
from pipeline.cli.context import App
from pipeline.config import load_settings
from pipeline.domain.errors import ConfigError, PipelineError
from pipeline.logging import configure_logging


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


for _module in (doctor, drop, models, schedules, services, stack, status, workers):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except PipelineError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
