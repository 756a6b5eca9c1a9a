"""The CLI's one terminal: whether progress is drawn, and every progress renderer.

Following hatch's ``src/hatch/cli/terminal.py``: one ``Terminal``, built once by the
``pipeline`` group from stderr and carried on ``App``, decides; a command hands it its
``--json`` flag and gets back what draws its progress. The rule, for every command:

- stderr is a terminal and no ``--json``: bars, redrawn in place on stderr
  (``Board`` live, ``TransferBar``);
- stderr is not a terminal (a pipe, a CI log): no bars; a ``Board`` prints each changed
  status line once, a transfer shows nothing (``NO_TRANSFER``, hatch's ``NullStatus``);
- ``--json``: no progress at all, so stdout carries exactly one JSON object (which the
  command prints) and stderr only errors.

What the CLI prints quotes what others wrote (prompts, file names, error messages, a
worker's words), and a terminal obeys the control sequences in it (colour, cursor moves,
OSC 8 hyperlinks, a cleared screen). So the ``pipeline`` group puts ``Printable`` over stdout
and stderr before any command runs (``guard_streams``): every write passes
``controls.printable`` and shows such a sequence as text. Only the bars' own cursor moves
go to the raw stream (``Terminal.stream``), with the text they draw passed through
``printable`` by hand. Logs keep their own stream, configured before the guard.
"""

from __future__ import annotations

import io
import sys
from typing import Protocol, TextIO, cast

import click

from pipeline.domain.controls import printable

BAR_WIDTH = 28
"""Cells in a ``bar``."""


def bar(done: float, total: float, width: int = BAR_WIDTH) -> str:
    """``done`` of ``total`` as ``width`` cells, filled ``█`` then empty ``░``: empty while
    ``total`` is 0 or less, full once ``done`` reaches ``total``."""
    filled = 0 if total <= 0 else round(width * min(done / total, 1.0))
    return "█" * filled + "░" * (width - filled)


def size(n: int) -> str:
    """Bytes for people: ``812.4 MB``, ``14.3 GB`` (decimal units, as Hugging Face shows)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class Printable(io.TextIOBase):
    """A text stream writing to ``raw`` what it is given, every control character but
    newline and tab as its ``\\uXXXX`` (``controls.printable``)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.raw.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.raw.errors


def guard_streams() -> None:
    """Put ``Printable`` over ``sys.stdout`` and ``sys.stderr`` (once: a guarded stream is
    left as it is). A process keeps them to its end; click's test runner puts its own back."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, Printable):
            setattr(sys, name, cast(TextIO, Printable(stream)))


def raw(stream: TextIO) -> TextIO:
    """The stream under a ``Printable`` (for the bars' cursor moves), else ``stream``."""
    return stream.raw if isinstance(stream, Printable) else stream


class Board:
    """Status lines on stderr: ``live``, redrawn in place; otherwise each changed first line
    printed once; ``quiet``, nothing. ``Terminal.board`` picks the mode."""

    def __init__(self, stream: TextIO, *, live: bool, quiet: bool) -> None:
        self.stream, self.live, self.quiet = stream, live, quiet
        self.shown: list[str] = []

    def show(self, lines: list[str]) -> None:
        """Show ``lines`` (at least one) in place of those shown before."""
        if self.quiet or lines == self.shown:
            return
        if self.live:
            self.clear()
            click.echo(printable("\n".join(lines)), file=self.stream)
        elif lines[0] != (self.shown or [""])[0]:
            click.echo(printable(lines[0]), file=self.stream)
        self.shown = lines

    def clear(self) -> None:
        """Erase what a live board shows (before the outcome is printed)."""
        if self.live and self.shown:
            click.echo(f"\x1b[{len(self.shown)}F\x1b[J", file=self.stream, nl=False)
        self.shown = []


class Transfer(Protocol):
    """One file's bytes moving: ``advance`` as they do, ``close`` when done."""

    def advance(self, n: int) -> None:
        """``n`` more bytes (negative: the transfer starts over)."""

    def close(self) -> None:
        """The transfer ended; its bar, if any, is finished."""


class TransferBar:
    """A file's progress bar on a terminal: ``{label} [####    ] 40%  1.2 GB of 3.0 GB``
    (no percentage and no total when the size is unknown)."""

    def __init__(self, stream: TextIO, label: str, total: int | None) -> None:
        of_total = f" of {size(total)}" if total else ""

        def shown(done: int | None) -> str:
            return f"{size(done or 0)}{of_total}"

        self._done = 0
        self._bar = click.progressbar(
            length=total or 0,
            label=printable(label),
            file=stream,
            show_percent=bool(total),
            item_show_func=shown,
        )

    def advance(self, n: int) -> None:
        self._done += n
        self._bar.update(n, self._done)

    def close(self) -> None:
        self._bar.render_finish()


class _NoTransfer:
    """A transfer nobody watches: off a terminal, or with ``--json``."""

    def advance(self, n: int) -> None:
        """Nothing to draw."""

    def close(self) -> None:
        """Nothing to finish."""


NO_TRANSFER: Transfer = _NoTransfer()


class Terminal:
    """Where the CLI draws progress (``stream``, stderr under any ``Printable``: the bars'
    cursor moves must reach it) and whether it is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = raw(stream)
        self.is_tty = stream.isatty()

    def live(self, *, as_json: bool) -> bool:
        """Whether a command run with (or without) ``--json`` draws bars."""
        return self.is_tty and not as_json

    def board(self, *, as_json: bool) -> Board:
        """Status lines for a command that follows something (a session, a batch)."""
        return Board(self.stream, live=self.live(as_json=as_json), quiet=as_json)

    def transfer(self, label: str, total: int | None, *, as_json: bool) -> Transfer:
        """A bar for ``total`` bytes (``None``: unknown) on a terminal, else ``NO_TRANSFER``."""
        if self.live(as_json=as_json):
            return TransferBar(self.stream, label, total)
        return NO_TRANSFER
