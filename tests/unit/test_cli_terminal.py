"""The one terminal: bars only on a TTY without ``--json``; with ``--json``, one JSON object."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import TextIO, cast

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import app as app_module
from pipeline.cli import follow as follow_module
from pipeline.cli import sessions as sessions_module
from pipeline.cli.app import cli
from pipeline.cli.context import ExitCode
from pipeline.cli.session_view import SessionStatus
from pipeline.cli.terminal import (
    NO_TRANSFER,
    Printable,
    Terminal,
    TransferBar,
    bar,
    raw,
    size,
)
from pipeline.domain.contracts import SessionProgress
from pipeline.domain.records import ErrorRecord


class FakeTty(io.StringIO):
    """A stream that says it is a terminal, and keeps what was written to it."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("done", "total", "width", "drawn"),
    [
        (0, 0, 4, "░░░░"),
        (1, 4, 4, "█░░░"),
        (3, 4, 4, "███░"),
        (9, 4, 4, "████"),
        (5, 0, 3, "░░░"),
    ],
)
def test_a_bar_fills_its_cells_in_proportion_and_never_overflows(
    done: int, total: int, width: int, drawn: str
) -> None:
    assert bar(done, total, width) == drawn


@pytest.mark.parametrize(
    ("n", "shown"),
    [(999, "999 B"), (1_500, "1.5 kB"), (812_400_000, "812.4 MB"), (14 * 10**9, "14.0 GB")],
)
def test_sizes_are_decimal_units_with_one_decimal(n: int, shown: str) -> None:
    assert size(n) == shown


@pytest.mark.parametrize(
    ("tty", "as_json", "live"), [(True, False, True), (True, True, False), (False, False, False)]
)
def test_bars_are_drawn_only_on_a_terminal_without_json(
    tty: bool, as_json: bool, live: bool
) -> None:
    stream = FakeTty() if tty else io.StringIO()
    terminal = Terminal(stream)

    transfer = terminal.transfer("fetching a.bin", 3_000_000, as_json=as_json)
    transfer.advance(1_500_000)
    transfer.close()

    assert terminal.live(as_json=as_json) is live
    assert isinstance(transfer, TransferBar) is live
    assert (transfer is NO_TRANSFER) is not live
    assert bool(stream.getvalue()) is live


def test_a_transfer_bar_shows_its_label_percentage_and_bytes_of_the_total() -> None:
    stream = FakeTty()
    transfer = Terminal(stream).transfer("fetching unet/wan.safetensors", 3_000_000, as_json=False)
    transfer.advance(1_000_000)
    transfer.advance(500_000)
    transfer.close()

    last = stream.getvalue().split("\r")[-1]
    assert "fetching unet/wan.safetensors" in last
    assert "50%" in last
    assert "1.5 MB of 3.0 MB" in last


def test_a_live_board_redraws_its_lines_in_place() -> None:
    stream = FakeTty()
    board = Terminal(stream).board(as_json=False)

    board.show(["generating", "segments ░░"])
    board.show(["generating", "segments █░"])
    board.show(["generating", "segments █░"])  # unchanged: nothing drawn
    board.clear()

    assert stream.getvalue() == (
        "generating\nsegments ░░\n\x1b[2F\x1b[Jgenerating\nsegments █░\n\x1b[2F\x1b[J"
    )


def test_off_a_terminal_a_board_prints_each_changed_first_line_once() -> None:
    stream = io.StringIO()
    board = Terminal(stream).board(as_json=False)

    board.show(["generating", "segments ░░"])
    board.show(["generating", "segments █░"])
    board.show(["stitching"])
    board.clear()

    assert stream.getvalue() == "generating\nstitching\n"


def test_with_json_a_board_on_a_terminal_shows_nothing() -> None:
    stream = FakeTty()
    board = Terminal(stream).board(as_json=True)

    board.show(["generating"])
    board.clear()

    assert stream.getvalue() == ""


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeTty:
    """The ``pipeline`` group's terminal is a TTY; a session runs once, then succeeds."""
    stream = FakeTty()
    monkeypatch.setattr(app_module, "Terminal", lambda _stderr: Terminal(stream))
    views = iter(["running", "succeeded"])

    async def no_client(*_args: object, **_kwargs: object) -> None:
        return None

    async def answered(_client: object, _settings: object, session_id: str) -> SessionStatus:
        status = next(views)
        progress = SessionProgress(stage="generating", segments_done=1, segments_total=2)
        return SessionStatus(
            session_id=session_id,
            workflow_id=f"session-{session_id}",
            status=status,
            stage="generating" if status == "running" else status,
            progress=progress if status == "running" else None,
        )

    monkeypatch.setattr(follow_module, "connect", no_client)
    monkeypatch.setattr(follow_module, "session_status", answered)
    monkeypatch.setattr(follow_module, "POLL_S", 0.0)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    return stream


def test_tail_on_a_terminal_draws_the_segment_bar_and_erases_it_at_the_end(tty: FakeTty) -> None:
    shown = CliRunner().invoke(cli, ["tail", "s-1"], color=True)  # the runner strips ANSI

    assert shown.exit_code == 0, shown.output
    drawn = tty.getvalue()
    assert f"segments {bar(1, 2)} 1/2" in drawn
    assert drawn.endswith("\x1b[2F\x1b[J")


def test_tail_json_on_a_terminal_prints_one_json_object_and_no_bar(tty: FakeTty) -> None:
    shown = CliRunner().invoke(cli, ["tail", "s-1", "--json"])

    assert shown.exit_code == 0, shown.output
    assert tty.getvalue() == ""
    assert json.loads(shown.stdout)["status"] == "succeeded"
    assert shown.stderr == ""


HOSTILE = "face\x1b[2J\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\\u202egnp.\r\x9b31m"
"""A name a manifest or an upload may carry: clear-screen, an OSC 8 hyperlink, a bidi
override, a carriage return and a C1 CSI."""
OWN_MOVES = "\x1b[2F\x1b[J"
"""The live board's own cursor moves (two lines up, erase): the only ESC it may send."""


def controls_in(text: str) -> set[str]:
    """The control characters in ``text`` a terminal would act on."""
    return {c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0} | (
        {"\u202e"} & set(text)
    )


@pytest.fixture
def hostile_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeTty:
    """A session whose progress and failure quote ``HOSTILE``, on a TTY."""
    stream = FakeTty()
    monkeypatch.setattr(app_module, "Terminal", lambda _stderr: Terminal(stream))
    views = iter(["running", "failed"])

    async def no_client(*_args: object, **_kwargs: object) -> None:
        return None

    async def answered(_client: object, _settings: object, session_id: str) -> SessionStatus:
        status = next(views)
        progress = SessionProgress(
            stage="generating", segments_done=0, segments_total=2, doing=f"running {HOSTILE}"
        )
        error = ErrorRecord(
            status="failed",
            session_id=session_id,
            workflow_id=f"session-{session_id}",
            stage="taking_drop",
            code="bad_media",
            message=f"{HOSTILE!s} is not an image",
            retryable=False,
        )
        return SessionStatus(
            session_id=session_id,
            workflow_id=f"session-{session_id}",
            status=status,
            stage="generating" if status == "running" else status,
            progress=progress if status == "running" else None,
            error=error if status == "failed" else None,
        )

    monkeypatch.setattr(follow_module, "connect", no_client)
    monkeypatch.setattr(follow_module, "session_status", answered)
    monkeypatch.setattr(follow_module, "POLL_S", 0.0)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    return stream


def test_tail_shows_control_sequences_it_quotes_as_text(hostile_session: FakeTty) -> None:
    shown = CliRunner().invoke(cli, ["tail", "s-1"], color=True)  # no stripping by click

    assert shown.exit_code == 1, shown.output
    drawn = hostile_session.getvalue()
    assert "running face\\u001b[2J\\u001b]8;;http://evil.example/" in drawn
    assert controls_in(drawn.replace(OWN_MOVES, "")) == set()
    assert drawn.endswith(OWN_MOVES)
    assert "failed: face\\u001b[2J" in shown.stderr
    assert controls_in(shown.stderr) == set()


def test_tail_json_stays_one_json_object_with_the_same_data(hostile_session: FakeTty) -> None:
    shown = CliRunner().invoke(cli, ["tail", "s-1", "--json"])

    assert shown.exit_code == 1, shown.output
    assert controls_in(shown.stdout) == set()
    assert json.loads(shown.stdout)["error"]["message"] == f"{HOSTILE} is not an image"


def test_ls_shows_control_sequences_in_a_manifests_preset_as_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def no_client(*_args: object, **_kwargs: object) -> None:
        return None

    async def listed(_client: object, _query: str, _limit: int) -> list[dict[str, object]]:
        return [
            {
                "session_id": "s-1",
                "status": "running",
                "stage": "generating",
                "kind": "i2v",
                "preset": HOSTILE,
                "started_at": "2026-12-07T10:00:00+00:00",
            }
        ]

    monkeypatch.setattr(sessions_module, "connect", no_client)
    monkeypatch.setattr(sessions_module, "list_sessions", listed)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))

    shown = CliRunner().invoke(cli, ["ls"], color=True)

    assert shown.exit_code == 0, shown.output
    assert "face\\u001b[2J" in shown.stdout
    assert controls_in(shown.stdout) == set()


def test_an_error_quoting_a_file_name_shows_its_controls_as_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("stdout", "stderr"):  # the group guards them; put them back afterwards
        monkeypatch.setattr(sys, name, getattr(sys, name))
    (tmp_path / "face.png").write_bytes(b"png")
    odd = tmp_path / (HOSTILE.replace("/", "_") + ".xyz")  # a type the CLI refuses by name
    odd.write_bytes(b"?")
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["pipeline", "drop", str(tmp_path / "face.png"), str(odd)])

    code = app_module._run()

    error = capsys.readouterr().err
    assert code == ExitCode.USAGE, error
    assert error.startswith("error: face\\u001b[2J"), error
    assert controls_in(error) == set()


def test_a_guarded_stream_passes_text_on_escaped_and_says_what_its_stream_is() -> None:
    stream = FakeTty()
    guarded = cast(TextIO, Printable(stream))

    click.echo(f"name: {HOSTILE}", file=guarded)

    assert controls_in(stream.getvalue()) == set()
    assert stream.getvalue().endswith("\\u009b31m\n")
    assert guarded.isatty()
    assert raw(guarded) is stream
    assert Terminal(guarded).stream is stream  # the bars' moves reach the TTY
