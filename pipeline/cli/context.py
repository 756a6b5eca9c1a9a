"""What every subcommand receives as ``click``'s context object (``@click.pass_obj``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import click

from pipeline.cli.terminal import Terminal
from pipeline.config import Settings


class ExitCode(IntEnum):
    """What ``pipeline`` exits with, for scripts."""

    OK = 0
    """Succeeded, or (``status``) still running."""
    FAILED = 1
    """Failed or cancelled."""
    USAGE = 2
    """A bad command line or configuration: a variable, credentials the store refused, a
    Temporal namespace or bucket that does not exist, a port or disk the stack cannot use."""
    NOT_FOUND = 3
    UNREACHABLE = 4
    """The stack (Temporal) or the object store did not answer, or the store failed."""
    STILL_RUNNING = 5
    """``--wait`` / ``tail``: ``--timeout`` ran out before the session ended; it goes on."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT, as shells report it) while following; the session goes on."""


class NotFound(click.ClickException):
    exit_code = ExitCode.NOT_FOUND


@dataclass
class App:
    settings: Settings
    """Read and validated once by the ``pipeline`` group before any subcommand runs."""
    terminal: Terminal
    """stderr, where progress is drawn; built once by the ``pipeline`` group."""
