"""The cron times a zone's clock changes skip or repeat (``pipeline.domain.clock_changes``).

Expected dates come from the zones' published rules, not from the code under test: the EU
changes at 01:00 UTC on the last Sundays of March and October; the US at 02:00 local on
the second Sunday of March and the first of November.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline.domain.clock_changes import CalendarTimes, clock_changes, dst_edges

EVERY_DAY = {"days_of_month": frozenset(range(1, 32)), "months": frozenset(range(1, 13))}
START = datetime(2026, 1, 1, tzinfo=UTC)


def daily(
    hours: set[int], minutes: set[int], days_of_week: set[int] | None = None
) -> CalendarTimes:
    return CalendarTimes(
        seconds=frozenset({0}),
        minutes=frozenset(minutes),
        hours=frozenset(hours),
        days_of_week=frozenset(range(7) if days_of_week is None else days_of_week),
        **EVERY_DAY,
    )


def sunday(year: int, month: int, nth: int) -> date:
    """The ``nth`` Sunday of the month (``-1``: the last)."""
    days = [date(year, month, d) for d in range(1, 32) if _valid(year, month, d)]
    return [d for d in days if d.weekday() == 6][nth - 1 if nth > 0 else nth]


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def test_berlin_0230_daily_falls_in_the_march_gap_and_the_october_overlap() -> None:
    edges = dst_edges(ZoneInfo("Europe/Berlin"), [daily({2}, {30})], START)

    march, october = sunday(2026, 3, -1), sunday(2026, 10, -1)
    assert [(e.kind, e.times) for e in edges] == [
        ("gap", (datetime(march.year, 3, march.day, 2, 30),)),
        ("overlap", (datetime(october.year, 10, october.day, 2, 30),)),
    ]
    assert [e.change.at for e in edges] == [
        datetime(2026, 3, march.day, 1, tzinfo=UTC),
        datetime(2026, 10, october.day, 1, tzinfo=UTC),
    ]
    gap = edges[0].change
    assert (gap.before, gap.after) == (timedelta(hours=1), timedelta(hours=2))
    assert (gap.wall_from.hour, gap.wall_to.hour) == (2, 3)


def test_new_york_skips_0230_in_march_and_repeats_0130_in_november() -> None:
    zone = ZoneInfo("America/New_York")
    march, november = sunday(2026, 3, 2), sunday(2026, 11, 1)

    at_0230 = dst_edges(zone, [daily({2}, {30})], START)
    at_0130 = dst_edges(zone, [daily({1}, {30})], START)

    assert [(e.kind, e.times) for e in at_0230] == [("gap", (datetime(2026, 3, march.day, 2, 30),))]
    assert [(e.kind, e.times) for e in at_0130] == [
        ("overlap", (datetime(2026, 11, november.day, 1, 30),))
    ]


def test_utc_has_no_clock_changes_so_no_warnings() -> None:
    every_minute = daily(set(range(24)), set(range(60)))

    assert clock_changes(ZoneInfo("UTC"), START, START + timedelta(days=365)) == []
    assert dst_edges(ZoneInfo("UTC"), [every_minute], START) == []


def test_times_away_from_the_changes_and_days_that_miss_them_are_not_named() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # Both of its changes fall on a Sunday.

    assert dst_edges(berlin, [daily({4}, {0})], START) == []
    assert dst_edges(berlin, [daily({2}, {30}, days_of_week={1, 2, 3, 4, 5, 6})], START) == []
    assert len(dst_edges(berlin, [daily({2}, {30}, days_of_week={0})], START)) == 2
    assert len(dst_edges(berlin, [daily({2}, {30}, days_of_week={7})], START)) == 2  # cron's 7


def test_every_scheduled_time_inside_the_span_is_named() -> None:
    edges = dst_edges(ZoneInfo("Europe/Berlin"), [daily({1, 2, 3}, {0, 15, 30, 45})], START)

    assert [[t.strftime("%H:%M") for t in e.times] for e in edges] == [
        ["02:00", "02:15", "02:30", "02:45"],
        ["02:00", "02:15", "02:30", "02:45"],
    ]


def test_a_half_hour_change_names_only_the_half_hour_it_moves() -> None:
    """Lord Howe Island moves its clocks by 30 minutes, at 02:00 local."""
    zone = ZoneInfo("Australia/Lord_Howe")
    calendar = daily({1, 2}, {15, 45})

    edges = dst_edges(zone, [calendar], START)

    assert {(e.kind, tuple(t.strftime("%H:%M") for t in e.times)) for e in edges} == {
        ("overlap", ("01:45",)),
        ("gap", ("02:15",)),
    }
    assert {abs(e.change.after - e.change.before) for e in edges} == {timedelta(minutes=30)}


def test_a_change_at_midnight_names_the_day_it_lands_on() -> None:
    """Chile springs forward at 24:00: the first hour of that Sunday does not happen."""
    edges = dst_edges(ZoneInfo("America/Santiago"), [daily({0}, {0, 30})], START)

    gaps = [e for e in edges if e.kind == "gap"]
    assert len(gaps) == 1
    assert [t.strftime("%H:%M") for t in gaps[0].times] == ["00:00", "00:30"]
    assert gaps[0].times[0].weekday() == 6  # A Sunday.


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_each_change_is_found_to_the_second(name: str) -> None:
    zone = ZoneInfo(name)
    changes = clock_changes(zone, START, START + timedelta(days=365))

    assert len(changes) == 2
    for change in changes:
        just_before = change.at - timedelta(seconds=1)
        assert just_before.astimezone(zone).utcoffset() == change.before
        assert change.at.astimezone(zone).utcoffset() == change.after


def test_the_horizon_bounds_the_search() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    january = datetime(2026, 1, 1, tzinfo=UTC)

    assert dst_edges(berlin, [daily({2}, {30})], january, timedelta(days=60)) == []
    assert len(dst_edges(berlin, [daily({2}, {30})], january, timedelta(days=120))) == 1
