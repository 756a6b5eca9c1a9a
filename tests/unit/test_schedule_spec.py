"""A schedule's time zone as ``pipeline schedule create`` takes it, and Temporal's calendars
as the values they match (``pipeline.cli.schedule_spec``). The server side is in
``tests/integration/test_schedule_zones.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from temporalio.client import ScheduleCalendarSpec, ScheduleRange

from pipeline.cli.app import cli
from pipeline.cli.schedule_spec import (
    calendar_times,
    cron_zone,
    gap_warning,
    overlap_warning,
    schedule_zone,
    time_zone,
)
from pipeline.domain.clock_changes import dst_edges


@pytest.mark.parametrize("name", ["Mars/Base", "utc", "", "../etc/passwd", "/etc/localtime"])
def test_an_unknown_zone_is_named_with_what_to_use(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown time zone {name!r}: use an IANA name"):
        time_zone(name)


def test_a_cron_line_s_own_zone_is_read_and_checked() -> None:
    assert cron_zone("CRON_TZ=Europe/Berlin 30 2 * * *") == "Europe/Berlin"
    assert cron_zone("TZ=America/New_York 0 9 * * 1-5") == "America/New_York"
    assert cron_zone("30 2 * * *") is None
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Berlln'"):
        cron_zone("CRON_TZ=Europe/Berlln 30 2 * * *")


def test_the_option_and_the_prefix_must_agree() -> None:
    assert schedule_zone("30 2 * * *", "Europe/Berlin") == "Europe/Berlin"
    assert schedule_zone("CRON_TZ=Europe/Berlin 30 2 * * *", None) == "Europe/Berlin"
    assert schedule_zone("CRON_TZ=Europe/Berlin 30 2 * * *", "Europe/Berlin") == "Europe/Berlin"
    assert schedule_zone("30 2 * * *", None) is None
    with pytest.raises(click.UsageError, match="CRON_TZ=Europe/Berlin but --timezone says UTC"):
        schedule_zone("CRON_TZ=Europe/Berlin 30 2 * * *", "UTC")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--cron", "30 2 * * *", "--timezone", "Mars/Base"],
            "Invalid value for '--timezone': unknown time zone 'Mars/Base': use an IANA name",
        ),
        (
            ["--cron", "CRON_TZ=Mars/Base 30 2 * * *"],
            "Invalid value for '--cron': unknown time zone 'Mars/Base'",
        ),
        (
            ["--cron", "CRON_TZ=Europe/Berlin 30 2 * * *", "--timezone", "Europe/Paris"],
            "--cron says CRON_TZ=Europe/Berlin but --timezone says Europe/Paris",
        ),
        (
            ["--every", "1d", "--timezone", "Europe/Berlin"],
            "--timezone applies to --cron; --every ignores time zones",
        ),
    ],
)
def test_create_refuses_a_zone_it_cannot_honour_before_calling_temporal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], said: str
) -> None:
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")  # Nothing answers there.

    shown = CliRunner().invoke(cli, ["schedule", "create", "n", *args])

    assert shown.exit_code == 2, shown.output
    assert said in shown.stderr


def test_a_calendar_s_ranges_become_the_values_they_match() -> None:
    calendar = ScheduleCalendarSpec(
        second=[ScheduleRange(0)],
        minute=[ScheduleRange(0, 59, 15)],
        hour=[ScheduleRange(2), ScheduleRange(9, 11)],
        day_of_week=[ScheduleRange(1, 5)],
    )

    times = calendar_times(calendar)

    assert times.minutes == {0, 15, 30, 45}
    assert times.hours == {2, 9, 10, 11}
    assert times.days_of_week == {1, 2, 3, 4, 5}
    assert times.days_of_month == set(range(1, 32))
    assert times.months == set(range(1, 13))
    assert times.years is None
    one_year = ScheduleCalendarSpec(year=[ScheduleRange(2027)])
    assert calendar_times(one_year).years == frozenset({2027})


def test_the_warnings_say_the_day_the_clocks_and_which_copy_of_a_repeated_time_runs() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    nightly = calendar_times(
        ScheduleCalendarSpec(hour=[ScheduleRange(2)], minute=[ScheduleRange(30)])
    )
    quarters = calendar_times(
        ScheduleCalendarSpec(hour=[ScheduleRange(2)], minute=[ScheduleRange(0, 59, 15)])
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    gap, overlap = dst_edges(berlin, [nightly], start)
    (quarter_gap, _) = dst_edges(berlin, [quarters], start)
    second = (overlap.change.at + timedelta(minutes=30)).astimezone(berlin)  # 02:30 CET.

    assert gap_warning("Europe/Berlin", gap) == (
        "Europe/Berlin: 02:30 does not happen on 2026-03-29 (clocks go forward from 02:00 to "
        "03:00): Temporal skips that run, it is not moved"
    )
    assert gap_warning("Europe/Berlin", quarter_gap).startswith(
        "Europe/Berlin: 02:00, 02:15, 02:30, 02:45 do not happen on 2026-03-29"
    )
    assert overlap_warning("Europe/Berlin", overlap, [second]) == (
        "Europe/Berlin: 02:30 happens twice on 2026-10-25 (clocks go back from 03:00 to "
        "02:00): Temporal starts 1 run at it: 2026-10-25T02:30+01:00 (second)"
    )
    first = (overlap.change.at - timedelta(minutes=30)).astimezone(berlin)  # 02:30 CEST.
    assert overlap_warning("Europe/Berlin", overlap, [first, second]).endswith(
        "starts 2 runs at it: 2026-10-25T02:30+02:00 (first), 2026-10-25T02:30+01:00 (second)"
    )
    assert overlap_warning("Europe/Berlin", overlap, []).endswith("Temporal starts 0 runs at it")
