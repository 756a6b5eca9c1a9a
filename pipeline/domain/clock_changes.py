"""The cron times a time zone's clock changes skip or repeat. Pure: the zone (a
``tzinfo``, e.g. ``zoneinfo.ZoneInfo("Europe/Berlin")``) and the start instant are
arguments, so nothing is read here.

When a zone's UTC offset grows (spring forward, Europe/Berlin 02:00 → 03:00) the wall-clock
times in between do not happen that day: a *gap*. When it shrinks (fall back, 03:00 →
02:00) they happen twice: an *overlap*. ``clock_changes`` finds a zone's offset changes in
a span; ``dst_edges`` names, for a schedule's calendars, the local times that fall in one.

What Temporal does then (so what the warning at ``pipeline schedule create`` says):

- Temporal's docs, on cron in a time zone: "If a Temporal Cron Job is scheduled around the
  time when daylight saving time (DST) begins or ends (for example, ``30 2 * * *``), it
  might run zero, one, or two times in a day! [...] Avoid schedules that include times
  that fall within DST transition periods." (docs.temporal.io, "Temporal Cron Job";
  temporalio/documentation#952). temporalio/temporal#8205 (open) asks for a DST policy;
  there is none.
- A gap: Temporal's calendar matcher (temporalio/temporal
  ``service/worker/scheduler/calendar.go``, ``compiledCalendar.next``) skips a time that
  does not exist ("we might have reached a nonexistent time that got jumped over by a dst
  transition") and goes on to the next match: the run is *not* moved past the gap, that
  day has none.
- An overlap: the same matcher retries a repeated hour with a one-hour offset, but Go's
  ``time.Date`` picks either copy of an ambiguous time, so the run happens once or twice.
  Measured on the dev server (Temporal Server 1.32.0, ``ListScheduleMatchingTimes``):
  ``30 2 * * *`` in Europe/Berlin is skipped on 2027-03-28 and runs once on 2026-10-25 (at
  the second 02:30, 25 h after the day before's); ``30 1 * * *`` in America/New_York runs
  twice on 2026-11-01 (01:30-04:00 and 01:30-05:00). The CLI therefore asks the server how
  many runs an overlap gets rather than guessing.

Day of week is Temporal's numbering: 0 (or 7) is Sunday.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

HORIZON = timedelta(days=365)
"""How far ahead ``dst_edges`` looks by default: the coming year."""

_STEP = timedelta(hours=1)
"""The scan's step: an offset change shorter than this, and undone within it, is missed
(no zone has had one)."""


@dataclass(frozen=True)
class CalendarTimes:
    """The values one cron calendar matches, field by field (Temporal's
    ``ScheduleCalendarSpec`` expanded: ``30 2 * * 1-5`` is minutes {30}, hours {2}, days of
    week {1, ..., 5}, every day of month and month). ``years`` ``None``: every year."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    years: frozenset[int] | None = None

    def on(self, day: date) -> bool:
        """Whether the calendar matches some time of ``day``."""
        weekday = (day.weekday() + 1) % 7  # Python's Monday 0 as cron's Monday 1, Sunday 0.
        return (
            (self.years is None or day.year in self.years)
            and day.month in self.months
            and day.day in self.days_of_month
            and (weekday in self.days_of_week or (weekday == 0 and 7 in self.days_of_week))
        )

    def between(self, start: datetime, end: datetime) -> list[datetime]:
        """The naive wall-clock times in ``[start, end)`` (naive) the calendar matches."""
        found = []
        day = start.date()
        while day <= end.date():
            if self.on(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        for second in sorted(self.seconds):
                            at = datetime(day.year, day.month, day.day, hour, minute, second)
                            if start <= at < end:
                                found.append(at)
            day += timedelta(days=1)
        return found


@dataclass(frozen=True)
class ClockChange:
    """One change of a zone's UTC offset: at ``at`` (UTC) the offset goes from ``before``
    to ``after``."""

    at: datetime
    before: timedelta
    after: timedelta

    @property
    def kind(self) -> Literal["gap", "overlap"]:
        """``gap``: clocks jump forward; ``overlap``: they go back."""
        return "gap" if self.after > self.before else "overlap"

    @property
    def wall_from(self) -> datetime:
        """The first naive wall-clock time skipped (gap) or repeated (overlap)."""
        return (self.at + min(self.before, self.after)).replace(tzinfo=None)

    @property
    def wall_to(self) -> datetime:
        """The end (exclusive) of the skipped or repeated wall-clock times."""
        return (self.at + max(self.before, self.after)).replace(tzinfo=None)


@dataclass(frozen=True)
class DstEdge:
    """Scheduled wall-clock ``times`` (naive, local) that ``change`` skips or repeats."""

    change: ClockChange
    times: tuple[datetime, ...]

    @property
    def kind(self) -> Literal["gap", "overlap"]:
        return self.change.kind


def _offset(zone: tzinfo, at: datetime) -> timedelta:
    return at.astimezone(zone).utcoffset() or timedelta(0)


def clock_changes(zone: tzinfo, start: datetime, end: datetime) -> list[ClockChange]:
    """Every change of ``zone``'s UTC offset between the aware instants ``start`` and
    ``end``, found to the second (an hourly scan, then bisection). None for UTC."""
    changes = []
    at, offset = start.astimezone(UTC), _offset(zone, start)
    while at < end:
        step_to = min(at + _STEP, end)
        then = _offset(zone, step_to)
        if then != offset:
            low, high = at, step_to  # offset(low) == offset, offset(high) == then
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if _offset(zone, middle) == offset else (low, middle)
            changes.append(ClockChange(at=high.replace(microsecond=0), before=offset, after=then))
            offset = then
        at = step_to
    return changes


def dst_edges(
    zone: tzinfo,
    calendars: Iterable[CalendarTimes],
    start: datetime,
    horizon: timedelta = HORIZON,
) -> list[DstEdge]:
    """The clock changes of ``zone`` in ``[start, start + horizon)`` that skip or repeat a
    time one of ``calendars`` matches, each with the times it touches, soonest first.
    Empty for a zone without clock changes (UTC) and for calendars that miss them."""
    chosen: Sequence[CalendarTimes] = list(calendars)
    edges = []
    for change in clock_changes(zone, start, start + horizon):
        times = sorted({t for c in chosen for t in c.between(change.wall_from, change.wall_to)})
        if times:
            edges.append(DstEdge(change=change, times=tuple(times)))
    return edges
