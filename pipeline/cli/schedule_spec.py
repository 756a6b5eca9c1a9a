"""What a schedule's spec says: its calendars as the cron lines they came from
(``cron_of``) and as the values they match (``calendar_times``); its time zone,
``--timezone`` (or a cron line's ``CRON_TZ=``) checked against the IANA names ``zoneinfo``
knows; and the warnings ``pipeline schedule create`` gives about cron times that a clock
change of that zone skips or repeats in the coming year (``pipeline.domain.clock_changes``,
whose docstring says what Temporal does then).

A cron line with no zone counts in UTC, as Temporal does (``ScheduleSpec.time_zone_name``
empty); Temporal keeps a ``CRON_TZ=`` prefix as the spec's time zone, so describing a
schedule reads it from ``time_zone_name``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import Client, ScheduleCalendarSpec, ScheduleRange, ScheduleSpec

from pipeline.domain.clock_changes import CalendarTimes, DstEdge, dst_edges

UTC_NAME = "UTC"
"""What a schedule without a time zone counts in (Temporal's default)."""

_CRON_TZ = re.compile(r"\s*(?:CRON_)?TZ=(\S*)\s")
"""The zone prefix Temporal's cron parser accepts (``parseCronString``: ``TZ=`` or
``CRON_TZ=`` then a space)."""


def time_zone(name: str) -> ZoneInfo:
    """The zone called ``name`` (an IANA name: ``Europe/Berlin``, ``UTC``). Raises
    ``ValueError`` naming it when ``zoneinfo`` knows no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin, "
            "America/New_York or UTC"
        ) from None


class TimeZoneName(click.ParamType[str, str]):
    """An option's IANA time zone name, checked with ``time_zone``."""

    name = "zone"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            time_zone(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return value


TIME_ZONE = TimeZoneName()


def cron_zone(cron: str) -> str | None:
    """The zone a cron line names with ``CRON_TZ=``/``TZ=``, or ``None``. Raises
    ``ValueError`` for a zone ``zoneinfo`` does not know."""
    match = _CRON_TZ.match(cron)
    if match is None:
        return None
    time_zone(match[1])
    return match[1]


def schedule_zone(cron: str | None, option: str | None) -> str | None:
    """The zone a new schedule counts in, from ``--cron``'s prefix and ``--timezone``
    (``None``: UTC). Raises ``click.UsageError`` when they disagree, or when a zone is given
    for ``--every`` (an interval counts absolute time, a zone changes nothing)."""
    if cron is None:
        if option is not None:
            raise click.UsageError("--timezone applies to --cron; --every ignores time zones")
        return None
    try:
        prefixed = cron_zone(cron)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--cron'") from None
    if prefixed is not None and option is not None and prefixed != option:
        raise click.UsageError(f"--cron says CRON_TZ={prefixed} but --timezone says {option}")
    return option or prefixed


_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day_of_month", 1, 31),
    ("month", 1, 12),
    ("day_of_week", 0, 6),
)
"""A cron line's five fields: the calendar's attribute and the range ``*`` stands for."""


def cron_of(calendar: ScheduleCalendarSpec) -> str:
    """A calendar as the cron line it came from: Temporal keeps ``--cron "0 2 * * *"`` as
    structured ranges (``hour=2``, ``minute=0``, ...), so ``describe`` writes them back.
    Seconds other than 0 lead the line (six fields), as Temporal's own cron accepts."""
    fields = [_cron_field(getattr(calendar, name), low, high) for name, low, high in _CRON_FIELDS]
    seconds = _cron_field(calendar.second, 0, 59)
    return " ".join(fields if seconds == "0" else [seconds, *fields])


def _cron_field(ranges: Sequence[ScheduleRange], low: int, high: int) -> str:
    parts = []
    for each in ranges or [ScheduleRange(low, high)]:
        end, step = max(each.end, each.start), max(each.step, 1)
        every = f"/{step}" if step > 1 else ""
        if (each.start, end) == (low, high):
            parts.append(f"*{every}")
        elif end == each.start:
            parts.append(str(each.start))
        else:
            parts.append(f"{each.start}-{end}{every}")
    return ",".join(parts)


def calendar_times(calendar: ScheduleCalendarSpec) -> CalendarTimes:
    """What a Temporal calendar (``--cron`` as Temporal compiled it) matches, field by
    field; an empty field is its whole range, as ``*`` (years: every year)."""

    def values(ranges: Sequence[ScheduleRange], low: int, high: int) -> frozenset[int]:
        found: set[int] = set()
        for each in ranges or [ScheduleRange(low, high)]:
            found.update(range(each.start, max(each.end, each.start) + 1, max(each.step, 1)))
        return frozenset(found)

    return CalendarTimes(
        seconds=values(calendar.second, 0, 59),
        minutes=values(calendar.minute, 0, 59),
        hours=values(calendar.hour, 0, 23),
        days_of_month=values(calendar.day_of_month, 1, 31),
        months=values(calendar.month, 1, 12),
        days_of_week=values(calendar.day_of_week, 0, 7),
        years=values(calendar.year, 0, 0) if calendar.year else None,
    )


async def dst_warnings(client: Client, schedule_id: str, spec: ScheduleSpec) -> list[str]:
    """One line per clock change of the schedule's zone in the coming year that skips or
    repeats one of its cron times, saying what Temporal does then; for an overlap, the
    server itself is asked (``ListScheduleMatchingTimes``) how many runs it starts."""
    name = spec.time_zone_name or UTC_NAME
    zone = time_zone(name)
    calendars = [calendar_times(c) for c in spec.calendars]
    lines = []
    for edge in dst_edges(zone, calendars, datetime.now(UTC)):
        if edge.kind == "gap":
            lines.append(gap_warning(name, edge))
        else:
            runs = await _runs_in_overlap(client, schedule_id, edge, zone)
            lines.append(overlap_warning(name, edge, runs))
    return lines


def gap_warning(zone: str, edge: DstEdge) -> str:
    """``Europe/Berlin: 02:30 does not happen on 2027-03-28 (clocks go forward from 02:00
    to 03:00): Temporal skips that run, it is not moved``."""
    change, one = edge.change, len(edge.times) == 1
    return (
        f"{zone}: {_clock(edge)} {'does' if one else 'do'} not happen on "
        f"{change.wall_from:%Y-%m-%d} (clocks go forward from {change.wall_from:%H:%M} to "
        f"{change.wall_to:%H:%M}): Temporal skips "
        f"{'that run, it is' if one else 'those runs, they are'} not moved"
    )


def overlap_warning(zone: str, edge: DstEdge, runs: Sequence[datetime]) -> str:
    """``America/New_York: 01:30 happens twice on 2027-11-07 (clocks go back from 02:00 to
    01:00): Temporal starts 2 runs at it: 2027-11-07T01:30-04:00 (first), …`` for the
    ``runs`` (aware, local) the server lists at the edge's times."""
    change, one = edge.change, len(edge.times) == 1
    starts = ", ".join(
        f"{run.isoformat(timespec='minutes')} "
        f"({'first' if run.utcoffset() == change.before else 'second'})"
        for run in runs
    )
    return (
        f"{zone}: {_clock(edge)} {'happens' if one else 'happen'} twice on "
        f"{change.wall_from:%Y-%m-%d} (clocks go back from {change.wall_to:%H:%M} to "
        f"{change.wall_from:%H:%M}): Temporal starts {len(runs)} "
        f"run{'' if len(runs) == 1 else 's'} at {'it' if one else 'them'}"
        + (f": {starts}" if runs else "")
    )


def _clock(edge: DstEdge, most: int = 4) -> str:
    shown = [f"{t:%H:%M:%S}" if t.second else f"{t:%H:%M}" for t in edge.times]
    more = f" and {len(shown) - most} more" if len(shown) > most else ""
    return ", ".join(shown[:most]) + more


async def _runs_in_overlap(
    client: Client, schedule_id: str, edge: DstEdge, zone: ZoneInfo
) -> list[datetime]:
    """The runs the server schedules at the edge's wall times, both copies of the
    repeated span (``[at - length, at + length)``), as local times."""
    change = edge.change
    length = change.before - change.after
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(change.at - length)
    end.FromDatetime(change.at + length)
    listed = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(
            namespace=client.namespace, schedule_id=schedule_id, start_time=start, end_time=end
        )
    )
    wanted = set(edge.times)
    runs = [t.ToDatetime(tzinfo=UTC).astimezone(zone) for t in listed.start_time]
    return [run for run in runs if run.replace(tzinfo=None) in wanted]
