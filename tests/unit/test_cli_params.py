"""The CLI's option types (one duration rule for ``--within``, ``--every``, ``--since``…)
and its command list (every ``COMMANDS`` module registered once)."""

from __future__ import annotations

import pkgutil
from datetime import UTC, datetime, timedelta, timezone
from importlib import import_module
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import pipeline.cli
from pipeline.cli.app import COMMAND_MODULES, cli
from pipeline.cli.params import parse_duration, parse_moment

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("24h", 86400),
        ("7d", 7 * 86400),
        ("2w", 14 * 86400),
        (" 1h ", 3600),
    ],
)
def test_a_duration_is_a_whole_number_and_one_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "1.5h", "-1h", "3y", "1h30m", "\u0661h", "24"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("24h", NOW - timedelta(days=1)),
        ("2026-02-01", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2026-02-01T08:00:00+02:00", datetime(2026, 2, 1, 8, tzinfo=timezone(timedelta(hours=2)))),
    ],
)
def test_a_moment_is_a_duration_ago_or_an_iso_date_in_utc_unless_it_says(
    text: str, moment: datetime
) -> None:
    assert parse_moment(text, NOW) == moment


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["reprocess", "--within", "5x"], "Invalid value for '--within': '5x': use 90s, 30m"),
        (["ls", "--since", "yesterday"], "Invalid value for '--since': 'yesterday': use 30m"),
        (["reprocess", "--until", "soon"], "Invalid value for '--until': 'soon': use 30m"),
        (
            ["schedule", "create", "n", "--every", "1d", "--catchup-window", "1.5h"],
            "Invalid value for '--catchup-window': '1.5h'",
        ),
    ],
)
def test_a_bad_duration_is_a_usage_error_naming_its_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], said: str
) -> None:
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    shown = CliRunner().invoke(cli, args)

    assert shown.exit_code == 2
    assert said in shown.stderr


def test_every_module_with_commands_is_registered_once() -> None:
    with_commands = {
        info.name
        for info in pkgutil.iter_modules(pipeline.cli.__path__)
        if hasattr(import_module(f"pipeline.cli.{info.name}"), "COMMANDS")
    }
    registered: list[click.Command] = [
        command for module in COMMAND_MODULES for command in module.COMMANDS
    ]

    assert sorted(module.__name__ for module in COMMAND_MODULES) == sorted(
        f"pipeline.cli.{name}" for name in with_commands
    )
    assert {c.name: c for c in registered} == cli.commands
    assert len(registered) == len(cli.commands)


def test_one_schedule_group_and_the_pipeline_s_own_schedules_under_setup() -> None:
    setup = cli.commands["setup"]
    assert isinstance(setup, click.Group)
    assert "schedules" in setup.commands
    assert [name for name in cli.commands if name.startswith("schedule")] == ["schedule"]
