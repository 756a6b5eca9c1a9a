"""The CLI's own option types: a duration (``--within 24h``) and a moment (``--since 7d``).

One rule for both: a whole number and one unit, ``s`` ``m`` ``h`` ``d`` ``w`` (seconds to
weeks). A moment is that long before now, or an ISO date/time (UTC unless it says).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

_DURATION = re.compile(r"([0-9]+)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` as a ``timedelta``; surrounding spaces are
    ignored. Raises ``ValueError`` for anything else (``1.5h``, ``h``, ``3y``)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])


def parse_moment(text: str, now: datetime) -> datetime:
    """A duration before ``now`` (``24h``: a day ago) or an ISO date/time, as an aware
    datetime (a naive date/time is taken as UTC). Raises ``ValueError`` for anything else."""
    try:
        return now - parse_duration(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Duration(click.ParamType[timedelta, str | timedelta]):
    """An option's ``parse_duration`` value; a bad one is click's usage error."""

    name = "duration"

    def convert(
        self, value: str | timedelta, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value)
        except ValueError:
            self.fail(f"{value!r}: use 90s, 30m, 24h, 7d or 2w", param, ctx)


class Moment(click.ParamType[datetime, str | datetime]):
    """An option's ``parse_moment`` value, measured from when the command runs."""

    name = "moment"

    def convert(
        self, value: str | datetime, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(value, datetime.now(UTC))
        except ValueError:
            self.fail(f"{value!r}: use 30m, 24h, 7d or an ISO date", param, ctx)


DURATION = Duration()
MOMENT = Moment()
