"""The CLI as scripts see it: exit codes, one-line errors, what `drop` accepts and explains."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import ActivityType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, ScheduleCalendarSpec, ScheduleRange

from pipeline.cli import follow as follow_module
from pipeline.cli import session_view
from pipeline.cli import sessions as sessions_command
from pipeline.cli.app import cli
from pipeline.cli.context import App, ExitCode
from pipeline.cli.follow import progress_line
from pipeline.cli.schedule_spec import cron_of
from pipeline.cli.session_view import SessionStatus
from pipeline.cli.status import status_exit_code
from pipeline.cli.targets import Resolved
from pipeline.cli.terminal import Terminal
from pipeline.cli.upload import classify_media
from pipeline.config import load_settings
from pipeline.domain.contracts import SessionProgress
from pipeline.domain.manifest import Manifest
from pipeline.domain.records import SessionRecord


def pipeline(
    args: list[str], state_dir: Path, **variables: str
) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline ARGS`` as a script runs it: a bare environment (``variables``
    added), ``state_dir`` as its state and working directory, its own exit code."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env={"PIPELINE_STATE_DIR": str(state_dir), "PATH": "", **variables},
        cwd=state_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", ["voice.mka", "voice.aiff", "voice.wma", "clip.avi", "v.ts"])
def test_every_decodable_audio_container_is_accepted(tmp_path: Path, name: str) -> None:
    (tmp_path / "face.png").write_bytes(b"png")
    (tmp_path / name).write_bytes(b"audio")
    assert classify_media([tmp_path / "face.png", tmp_path / name])["audio"].name == name


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("succeeded", ExitCode.OK),
        ("running", ExitCode.OK),
        ("failed", ExitCode.FAILED),
        ("cancelled", ExitCode.FAILED),
        ("timed_out", ExitCode.FAILED),
        ("pending", ExitCode.NOT_FOUND),
    ],
)
def test_status_exit_codes_tell_scripts_how_a_session_ended(status: str, code: int) -> None:
    view = SessionStatus(session_id="s", workflow_id="session-s", status=status)
    assert status_exit_code(view) == code


def test_drop_help_lists_every_manifest_field() -> None:
    shown = CliRunner().invoke(cli, ["drop", "--help"], terminal_width=100)
    assert shown.exit_code == 0
    for name in Manifest.model_fields:
        assert f"  {name} " in shown.output


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (
            ["drop", "--kind", "bad", "x.png"],
            ExitCode.USAGE,
            "error: Invalid value for '--kind': 'bad' is not one of 'i2v', 's2v', "
            "'infinitetalk' (see 'pipeline drop --help')",
        ),
        (["nosuch"], ExitCode.USAGE, "error: No such command 'nosuch' (see 'pipeline --help')"),
        (
            ["drop", "--timeout", "5", "/dev/null"],
            ExitCode.USAGE,
            "error: --timeout applies only with --wait (see 'pipeline drop --help')",
        ),
        (
            ["tail", "s-1", "--timeout", "-1"],
            ExitCode.USAGE,
            "error: Invalid value for '--timeout': -1.0 is not in the range x>=0 "
            "(see 'pipeline tail --help')",
        ),
    ],
)
def test_click_s_own_errors_are_one_error_line_like_every_other(
    tmp_path: Path, args: list[str], code: int, line: str
) -> None:
    done = pipeline(args, tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (code, line + "\n", "")


def test_an_unreachable_stack_is_one_line_and_exit_code_4(tmp_path: Path) -> None:
    done = pipeline(["status", "some-session"], tmp_path, TEMPORAL_ADDRESS="127.0.0.1:1")
    assert done.returncode == ExitCode.UNREACHABLE
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: Temporal at 127.0.0.1:1 is unreachable")
    assert "pipeline up" in done.stderr


def test_a_typod_manifest_field_is_one_line_naming_the_field_it_resembles(
    tmp_path: Path,
) -> None:
    image = tmp_path / "face.png"
    image.write_bytes(b"png")
    refused = pipeline(["drop", str(image), "--set", "promt=a cat"], tmp_path)
    assert refused.returncode == ExitCode.USAGE
    assert refused.stderr == (
        "error: invalid manifest: promt: unknown field; did you mean 'prompt'?\n"
    )


@pytest.mark.parametrize(
    ("node", "step", "steps", "line"),
    [
        ("KSamplerAdvanced", 2, 4, "segment 2/3 · KSamplerAdvanced step 2/4"),
        ("LoadAudio", 0, 0, "segment 2/3 · LoadAudio"),
    ],
)
def test_progress_shows_sampler_steps_as_whole_numbers_and_stepless_nodes_by_name(
    node: str, step: int, steps: int, line: str
) -> None:
    view = SessionStatus(
        session_id="s",
        workflow_id="session-s",
        status="running",
        stage="generating",
        segments_done=1,
        segments_total=3,
        progress=SessionProgress(
            stage="generating",
            segments_done=1,
            segments_total=3,
            node=node,
            step=step,
            steps=steps,
        ),
    )
    assert progress_line(view) == line


def test_down_without_a_stack_here_names_the_port_another_stack_holds(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        shown = CliRunner().invoke(
            cli,
            ["down"],
            env={"PIPELINE_STATE_DIR": str(tmp_path), "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"},
        )
    assert shown.exit_code == 0
    assert shown.output.startswith(
        f"no stack runs from this state dir, but port {port} for Temporal (TEMPORAL_ADDRESS)"
    )
    assert f"another PIPELINE_STATE_DIR than {tmp_path.resolve()}?" in shown.output


def test_ctrl_c_while_following_leaves_the_session_running_and_says_how_to_find_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def interrupted(*_args: object, **_kwargs: object) -> SessionStatus:
        raise KeyboardInterrupt

    monkeypatch.setattr(follow_module, "follow", interrupted)
    with pytest.raises(SystemExit) as stopped:
        follow_module.follow_to_end(
            App(load_settings(), Terminal(sys.stderr)), "s-1", limit_s=60.0, as_json=True
        )
    assert stopped.value.code == ExitCode.INTERRUPTED
    assert capsys.readouterr().err == (
        "stopped following; the session goes on ('pipeline status s-1')\n"
    )


def running_for(monkeypatch: pytest.MonkeyPatch, status: str) -> None:
    """Make every ``session_status`` answer ``status`` (generating, 1 of 3 segments)."""

    async def no_client(*_args: object, **_kwargs: object) -> None:
        return None

    async def answered(_client: object, _settings: object, session_id: str) -> SessionStatus:
        return SessionStatus(
            session_id=session_id,
            workflow_id=f"session-{session_id}",
            status=status,
            stage="generating" if status == "running" else status,
            segments_done=1,
            segments_total=3,
        )

    monkeypatch.setattr(follow_module, "connect", no_client)
    monkeypatch.setattr(follow_module, "session_status", answered)
    monkeypatch.setattr(follow_module, "POLL_S", 0.01)


@pytest.mark.parametrize("as_json", [False, True])
def test_a_wait_that_runs_out_exits_5_and_says_the_session_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, as_json: bool
) -> None:
    running_for(monkeypatch, "running")
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    shown = CliRunner().invoke(
        cli, ["tail", "s-1", "--timeout", "0.05", *(["--json"] if as_json else [])]
    )

    assert shown.exit_code == ExitCode.STILL_RUNNING
    assert shown.stderr.splitlines()[-1] == (
        "session s-1 still generating after 0 s; it keeps running "
        "('pipeline tail s-1' follows it again)"
    )
    if as_json:
        assert json.loads(shown.stdout)["status"] == "running"
    else:
        assert shown.stdout == ""
        assert "generating · segments 1/3" in shown.stderr


@pytest.mark.parametrize(("status", "code"), [("succeeded", 0), ("failed", 1), ("cancelled", 1)])
def test_following_exits_with_how_the_session_ended(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, status: str, code: int
) -> None:
    running_for(monkeypatch, status)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    shown = CliRunner().invoke(cli, ["tail", "s-1", "--json"])

    assert shown.exit_code == code
    assert json.loads(shown.stdout)["status"] == status


@pytest.mark.parametrize("command", [["tail", "s-1"], ["tail", "s-1", "--json"], ["cancel", "s-1"]])
def test_tail_and_cancel_of_a_session_that_never_started_exit_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    async def no_client(*_args: object, **_kwargs: object) -> None:
        return None

    async def never_started(_client: object, _settings: object, session_id: str) -> SessionStatus:
        return SessionStatus(
            session_id=session_id, workflow_id=f"session-{session_id}", status="pending"
        )

    async def nothing_runs(_client: object, identifier: str) -> Resolved:
        return Resolved(identifier, f"session-{identifier}", ())

    for module in (follow_module, sessions_command):  # tail follows; cancel looks once
        monkeypatch.setattr(module, "connect", no_client)
        monkeypatch.setattr(module, "session_status", never_started)
    monkeypatch.setattr(sessions_command, "resolve", nothing_runs)
    monkeypatch.setattr(follow_module, "START_GRACE_S", 0.0)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    shown = CliRunner().invoke(cli, command)

    assert shown.exit_code == ExitCode.NOT_FOUND
    assert shown.output.startswith("Error: no session s-1: Temporal knows no such workflow")


@pytest.mark.parametrize(
    ("last_poll_s_ago", "shown"),
    [
        (5.0, ""),
        (
            300.0,
            " · waiting for worker 42@box-1, which stopped polling; the task goes back to "
            "preset wan22-i2v-fp8's queue in 480 s (STICKY_SCHEDULE_TO_START_S)",
        ),
    ],
)
async def test_a_sticky_task_whose_worker_is_gone_says_when_it_moves_on(
    monkeypatch: pytest.MonkeyPatch, last_poll_s_ago: float, shown: str
) -> None:
    """After a stack restart a session's next segment waits for the old worker's queue."""
    now = datetime.now(UTC)

    async def listed(_client: object, queue: str) -> dict[str, datetime]:
        assert queue == "gpu.worker.42@box-1"
        return {"42@box-1": now - timedelta(seconds=last_poll_s_ago)}

    monkeypatch.setattr(session_view, "pollers", listed)
    pending = PendingActivityInfo(
        activity_type=ActivityType(name="generate_segment"),
        activity_options=ActivityOptions(task_queue=TaskQueue(name="gpu.worker.42@box-1")),
    )
    pending.scheduled_time.FromDatetime(now - timedelta(seconds=119.6))  # rounds to 480
    settings = load_settings(STICKY_SCHEDULE_TO_START_S="600")

    said = await session_view._nobody_polls(cast(Client, None), settings, pending, "wan22-i2v-fp8")

    assert said == shown


@pytest.mark.parametrize(
    ("activity", "silent_s", "shown"),
    [
        ("generate_segment", 5.0, ""),  # beats every 10 s: not late yet
        (
            "generate_segment",
            18.0,
            " · waiting for worker 42@box-1, silent for 18 s: the attempt is retried "
            "elsewhere in 12 s (heartbeat timeout)",
        ),
        ("generate_segment", 45.0, " · waiting for worker 42@box-1, silent for 45 s: the"),
        ("stitch", 18.0, ""),  # CPU activities: a 60 s timeout, late only after 30 s
    ],
)
def test_a_started_attempt_whose_worker_went_silent_says_when_it_is_retried(
    activity: str, silent_s: float, shown: str
) -> None:
    """A killed worker's attempt shows its last step and ETA until the heartbeat timeout."""
    now = datetime.now(UTC)
    pending = PendingActivityInfo(
        activity_type=ActivityType(name=activity), last_worker_identity="42@box-1"
    )
    pending.last_started_time.FromDatetime(now - timedelta(seconds=60))
    pending.last_heartbeat_time.FromDatetime(now - timedelta(seconds=silent_s))

    said = session_view.silent_worker(pending, now)

    assert said.startswith(shown) if shown else said == ""
    if silent_s > 30:
        assert said.endswith("retried elsewhere in 0 s (heartbeat timeout)")


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"MEDIA_GRACE_S": "-1"}, "error: invalid configuration: MEDIA_GRACE_S: "),
        ({"PRESETS_FILE": "missing.toml"}, "error: invalid configuration: PRESETS_FILE: "),
        ({"PRESETS_FILE": "presets.toml"}, "error: presets.toml:"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_code_2(
    tmp_path: Path, variables: dict[str, str], said: str
) -> None:
    (tmp_path / "presets.toml").write_text(
        '[[preset]]\nname = "x"\nbase = "wan22-i2v-fp8"\nstep = 3\n'
    )
    done = pipeline(["status", "some-session"], tmp_path, **variables)
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(said)


@pytest.mark.parametrize(
    ("calendar", "cron"),
    [
        (ScheduleCalendarSpec(hour=[ScheduleRange(2)]), "0 2 * * *"),
        (
            ScheduleCalendarSpec(
                minute=[ScheduleRange(0, 59, 15)],
                hour=[ScheduleRange(9, 17)],
                day_of_week=[ScheduleRange(1, 5)],
            ),
            "*/15 9-17 * * 1-5",
        ),
        (
            ScheduleCalendarSpec(
                second=[ScheduleRange(30)],
                hour=[ScheduleRange(1), ScheduleRange(13)],
                day_of_month=[ScheduleRange(1, 31, 2)],
            ),
            "30 0 1,13 */2 * *",
        ),
    ],
)
def test_schedule_describe_writes_a_calendar_back_as_its_cron_line(
    calendar: ScheduleCalendarSpec, cron: str
) -> None:
    """Temporal answers ``--cron "0 2 * * *"`` with ranges; describe showed "cron": []."""
    assert cron_of(calendar) == cron


def test_ls_lines_up_its_columns_whatever_the_session_ids(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def no_client(*_args: object, **_kwargs: object) -> None:
        return None

    async def listed(_client: object, _query: str, _limit: int) -> list[dict[str, object]]:
        row = {"status": "succeeded", "stage": "succeeded", "kind": "i2v", "preset": "p"}
        ids = ["demo-20261130t232716z-1d89-8a1", "portrait-20261130t232749z-b136-45e26f73556c9c21"]
        return [{**row, "session_id": id_, "started_at": "2026-11-30T23:27:17"} for id_ in ids]

    monkeypatch.setattr(sessions_command, "connect", no_client)
    monkeypatch.setattr(sessions_command, "list_sessions", listed)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    shown = CliRunner().invoke(cli, ["ls"])

    assert shown.exit_code == 0
    lines = shown.output.splitlines()
    assert len(lines) == 2
    assert len({line.index("succeeded") for line in lines}) == 1


def never_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``session_status`` answer that no workflow has started yet."""

    async def no_client(*_args: object, **_kwargs: object) -> None:
        return None

    async def pending(_client: object, _settings: object, session_id: str) -> SessionStatus:
        return SessionStatus(
            session_id=session_id, workflow_id=f"session-{session_id}", status="pending"
        )

    monkeypatch.setattr(follow_module, "connect", no_client)
    monkeypatch.setattr(follow_module, "session_status", pending)
    monkeypatch.setattr(follow_module, "POLL_S", 0.01)


def test_tail_of_a_session_that_has_not_started_when_its_timeout_runs_out_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    never_started(monkeypatch)
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    shown = CliRunner().invoke(cli, ["tail", "s-1", "--timeout", "0.05"])

    assert shown.exit_code == ExitCode.NOT_FOUND
    assert shown.stderr.splitlines()[-1].startswith(
        "Error: no session s-1: Temporal knows no such workflow"
    )


def test_a_wait_that_runs_out_before_the_upload_started_a_session_says_it_has_not_started(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    never_started(monkeypatch)
    with pytest.raises(SystemExit) as stopped:
        follow_module.follow_to_end(
            App(load_settings(), Terminal(sys.stderr)),
            "s-1",
            limit_s=0.05,
            as_json=False,
            uploaded=True,
        )

    assert stopped.value.code == ExitCode.STILL_RUNNING
    assert capsys.readouterr().err.splitlines()[-1] == (
        "session s-1 has not started after 0 s; ingest starts it from the upload "
        "('pipeline tail s-1' follows it again)"
    )


@pytest.mark.parametrize("command", [["tail", "s-1"], ["drop", "face.png", "--wait"]])
def test_a_negative_timeout_is_a_usage_error_before_anything_is_uploaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    running_for(monkeypatch, "running")
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "face.png").write_bytes(b"not looked at")
    shown = CliRunner().invoke(cli, [*command, "--timeout", "-1"])

    assert shown.exit_code == ExitCode.USAGE
    assert "Invalid value for '--timeout': -1.0 is not in the range x>=0." in shown.stderr


def test_a_finished_sessions_urls_say_until_when_they_work_and_how_to_get_new_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = SessionRecord(
        status="succeeded",
        session_id="s-1",
        workflow_id="session-s-1",
        run="r1",
        kind="i2v",
        manifest={"kind": "i2v", "image": "a.png"},
        objects={"combined": "sessions/s-1/generations/r1/combined.mp4"},
        urls={},
        frames=81,
        duration_s=5.06,
        timings_s={},
        versions={},
        finished_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    view = SessionStatus(
        session_id="s-1",
        workflow_id="session-s-1",
        status="succeeded",
        result=result,
        urls={"combined": "http://store/combined.mp4?X-Amz-Signature=1"},
        expires_at=datetime(2026, 12, 14, 9, 30, tzinfo=UTC),
    )

    follow_module.print_outcome(view)
    public = view.model_copy(update={"expires_at": None})
    follow_module.print_outcome(public)
    mixed = view.model_copy(update={"public": ["combined", "preview_poster"]})
    follow_module.print_outcome(mixed)

    first, second, third = capsys.readouterr().out.split("succeeded: ")[1:]
    assert "  combined: http://store/combined.mp4?X-Amz-Signature=1\n" in first
    assert first.endswith(
        "  (the URLs work until 2026-12-14 09:30:00 UTC; 'pipeline status s-1' prints new ones)\n"
    )
    assert "work until" not in second  # public URLs do not expire
    assert third.endswith(
        "  (the URLs but those of combined, preview_poster work until 2026-12-14 09:30:00 UTC; "
        "'pipeline status s-1' prints new ones)\n"
    )
