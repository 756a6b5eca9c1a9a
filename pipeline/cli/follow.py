"""Following a session to its end, for ``drop --wait``, ``demo`` and ``tail``.

On a terminal the stage, segment and sampler-step bars are redrawn in place on stderr;
elsewhere (a pipe, a CI log) each changed stage line is printed once (``terminal.Board``).
The outcome then goes to stdout (or one JSON object with ``--json``) and the exit code
says how it ended: ``ExitCode.OK`` succeeded, ``FAILED`` failed or cancelled,
``NOT_FOUND`` no session started within ``START_GRACE_S`` of the upload (``tail``: nor
before ``--timeout`` ran out), ``STILL_RUNNING`` ``--timeout`` ran out first,
``INTERRUPTED`` Ctrl-C (the session goes on in every case but the first two).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import NoReturn

import click

from pipeline.cli.context import App, ExitCode, NotFound
from pipeline.cli.session_view import SessionStatus, no_such_session, session_status
from pipeline.cli.terminal import Board, bar
from pipeline.config import Settings
from pipeline.domain.quality_captions import run_captions
from pipeline.temporal_client import connect
from pipeline.workflows.describe import live_line

START_GRACE_S = 60.0
"""How long after an upload a session may take to start (ingest delivers the event)."""
POLL_S = 0.5


def follow_to_end(
    app: App,
    session_id: str,
    *,
    limit_s: float | None,
    as_json: bool,
    uploaded: bool = False,
) -> NoReturn:
    """Follow ``session_id`` until it ends or ``limit_s`` runs out, print how it ended and
    exit with the matching ``ExitCode``. ``uploaded``: its manifest was just put by this
    command, so a session that does not start points at the ingest consumer."""
    try:
        board = app.terminal.board(as_json=as_json)
        final = asyncio.run(follow(app.settings, session_id, limit_s, board, uploaded=uploaded))
    except KeyboardInterrupt:
        click.echo(
            f"stopped following; the session goes on ('pipeline status {session_id}')", err=True
        )
        sys.exit(ExitCode.INTERRUPTED)
    if as_json:
        click.echo(final.model_dump_json(indent=2))
    elif final.finished:
        print_outcome(final)
    if not final.finished:
        how = (
            f"has not started after {limit_s:.0f} s; ingest starts it from the upload"
            if final.status == "pending"
            else f"still {final.stage} after {limit_s:.0f} s; it keeps running"
        )
        click.echo(
            f"session {session_id} {how} ('pipeline tail {session_id}' follows it again)",
            err=True,
        )
        sys.exit(ExitCode.STILL_RUNNING)
    sys.exit(ExitCode.OK if final.status == "succeeded" else ExitCode.FAILED)


async def follow(
    settings: Settings,
    session_id: str,
    limit_s: float | None,
    board: Board,
    *,
    uploaded: bool = False,
) -> SessionStatus:
    """Poll the session every ``POLL_S`` until it ends (its final status) or ``limit_s``
    seconds pass (its status then, not finished), showing its progress on ``board``.
    Raises ``NotFound`` if no session starts within ``START_GRACE_S`` or, unless this
    command just ``uploaded`` its manifest, before ``limit_s`` runs out."""
    client = await connect(settings)
    deadline = None if limit_s is None else time.monotonic() + limit_s
    start_deadline = time.monotonic() + START_GRACE_S
    while True:
        view = await session_status(client, settings, session_id)
        out_of_time = deadline is not None and time.monotonic() > deadline
        if view.finished or (out_of_time and (uploaded or view.status != "pending")):
            board.clear()
            return view
        if view.status == "pending" and (out_of_time or time.monotonic() > start_deadline):
            board.clear()
            if uploaded:
                raise NotFound(
                    f"no session started within {START_GRACE_S:.0f} s of the upload: "
                    "is the ingest consumer running (pipeline up)?"
                )
            raise no_such_session(session_id)
        board.show(render(view))
        await asyncio.sleep(POLL_S)


def progress_line(status: SessionStatus) -> str:
    """One line: the stage, segment and step, what the session waits for, and the last
    failure of a step that is retrying."""
    if status.status == "pending":
        return "waiting for the session to start…"
    if status.progress is not None:
        line = live_line(status.progress)
        # What the workflow cannot know: media still uploading, no worker polling its queue.
        waiting = str(status.stage).partition("waiting for ")[2]
        if waiting and waiting not in line:
            line = f"{line} · waiting for {waiting}"
        return line + retry_note(status)
    parts = [str(status.stage)]
    if status.segments_total:
        parts.append(f"segments {status.segments_done}/{status.segments_total}")
    return " · ".join(parts) + retry_note(status)


def retry_note(status: SessionStatus) -> str:
    """`` · retrying X (attempt N), last failure: code: message``, or ``""``."""
    retry = status.retrying
    if retry is None:
        return ""
    code = f"{retry.code}: " if retry.code else ""
    return (
        f" · retrying {retry.activity} (attempt {retry.attempt}), "
        f"last failure: {code}{retry.message}"
    )


def print_outcome(status: SessionStatus) -> None:
    """A finished session: frames, duration, the quality gate's verdict and fresh URLs (and
    until when presigned ones work) on stdout, or the error on stderr; then its completion
    callback's state on stderr (it never changes the outcome, and is retried in the
    background)."""
    if status.status == "succeeded" and status.result:
        click.echo(f"succeeded: {status.result.frames} frames, {status.result.duration_s:.2f} s")
        for line in run_captions(status.result.quality):
            click.echo(f"  {line}")
        for label, url in status.urls.items():
            click.echo(f"  {label}: {url}")
        if status.expires_at is not None:
            which = f"URLs but those of {', '.join(status.public)}" if status.public else "URLs"
            click.echo(
                f"  (the {which} work until {status.expires_at:%Y-%m-%d %H:%M:%S} UTC; "
                f"'pipeline status {status.session_id}' prints new ones)"
            )
    else:
        message = status.error.message if status.error else "see the Temporal UI"
        click.echo(f"{status.status}: {message}", err=True)
        if "error" in status.urls:
            click.echo(f"  error.json: {status.urls['error']}", err=True)
    if status.callback is not None and status.callback.state != "no_url":
        click.echo(f"  callback: {status.callback.line()}", err=True)


def render(view: SessionStatus) -> list[str]:
    """Three lines: the stage with its ETA, the segment bar, the sampler-step bar."""
    progress = view.progress
    if progress is None:
        return [progress_line(view)]
    lines = [progress_line(view)]
    if progress.segments_total:
        lines.append(
            f"segments {bar(progress.segments_done, progress.segments_total)} "
            f"{progress.segments_done}/{progress.segments_total}"
        )
    if progress.stage == "generating" and progress.steps:
        lines.append(
            f"steps    {bar(progress.step, progress.steps)} {progress.step}/{progress.steps}"
            + (f" · {progress.node}" if progress.node else "")
        )
    if progress.previews:
        latest = f"preview_segment_{len(progress.previews) - 1:03d}"
        lines.append(f"preview  segment {len(progress.previews)}: {view.urls.get(latest, '')}")
    return lines
