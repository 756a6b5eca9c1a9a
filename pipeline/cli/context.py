"""What every subcommand receives as ``click``'s context object (``@click.pass_obj``)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Settings


@dataclass
class App:
    settings: Settings
    """Read and validated once by the ``pipeline`` group before any subcommand runs."""
