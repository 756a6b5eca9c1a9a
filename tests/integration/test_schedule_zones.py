"""A schedule says what it does: ``pipeline schedule`` shows the time zone a cron counts in
(``describe``, ``ls``, text and ``--json``) and ``create`` warns about cron times a clock
change of that zone skips or repeats in the coming year. Before, ``CRON_TZ=`` was honoured
by Temporal but dropped from ``describe``/``ls``, and a DST gap or overlap went unsaid.

The real Temporal dev server and the ``pipeline`` CLI as a process; the expected dates come
from the zones' rules (EU: last Sundays of March and October; US: the second Sunday of
March, the first of November), the expected run counts from the server itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import Client

from pipeline.config import Settings
from pipeline.workflows.reprocess import BATCH_WORKFLOW_PREFIX
from tests.conftest import S3Bucket, TemporalServer
from tests.integration.stack_support import pipeline_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(s3_bucket: S3Bucket, temporal_server: TemporalServer) -> Settings:
    return s3_bucket.settings(TEMPORAL_ADDRESS=temporal_server.address)


@pytest.fixture
def names(settings: Settings) -> Iterator[list[str]]:
    """Schedule names for a test; each is deleted afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        pipeline_cli(settings, "schedule", "delete", name)


def create(settings: Settings, names: list[str], *args: str) -> dict[str, Any]:
    name = f"tz{uuid.uuid4().hex[:6]}"
    names.append(name)
    done = pipeline_cli(settings, "schedule", "create", name, *args, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""  # --json: everything is in the one object.
    made: dict[str, Any] = json.loads(done.stdout)
    assert made["schedule"] == BATCH_WORKFLOW_PREFIX + name
    return {"name": name, **made}


def next_sunday(after: date, month: int, nth: int) -> date:
    """The first ``nth`` Sunday of ``month`` (``-1``: the last) after ``after``."""
    for year in (after.year, after.year + 1):
        days = [date(year, month, 1) + timedelta(days=d) for d in range(31)]
        sundays = [d for d in days if d.month == month and d.weekday() == 6]
        chosen = sundays[nth - 1 if nth > 0 else nth]
        if chosen > after:
            return chosen
    raise AssertionError("no such Sunday within a year")


async def server_runs_at(
    client: Client, schedule_id: str, zone: ZoneInfo, day: date, hour: int, minute: int
) -> list[datetime]:
    """The runs the server itself lists on ``day`` at ``hour:minute`` in ``zone``."""
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC))
    end.FromDatetime(start.ToDatetime(tzinfo=UTC) + timedelta(days=1))
    listed = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(
            namespace=client.namespace, schedule_id=schedule_id, start_time=start, end_time=end
        )
    )
    local = [t.ToDatetime(tzinfo=UTC).astimezone(zone) for t in listed.start_time]
    return [t for t in local if (t.hour, t.minute) == (hour, minute)]


async def test_a_berlin_cron_shows_its_zone_and_warns_about_both_clock_changes(
    settings: Settings, names: list[str], temporal_client: Client
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(berlin).date()
    march, october = next_sunday(today, 3, -1), next_sunday(today, 10, -1)

    made = create(
        settings, names, "--cron", "30 2 * * *", "--timezone", "Europe/Berlin", "--retryable"
    )

    assert made["time_zone"] == "Europe/Berlin"
    assert len(made["warnings"]) == 2, made["warnings"]
    gap, overlap = sorted(made["warnings"], key=lambda w: "twice" in w)
    assert gap.startswith(f"Europe/Berlin: 02:30 does not happen on {march.isoformat()} ")
    assert "clocks go forward from 02:00 to 03:00" in gap
    assert "Temporal skips that run" in gap
    runs = await server_runs_at(temporal_client, made["schedule"], berlin, october, 2, 30)
    assert overlap.startswith(f"Europe/Berlin: 02:30 happens twice on {october.isoformat()} ")
    assert "clocks go back from 03:00 to 02:00" in overlap
    assert f"Temporal starts {len(runs)} run" in overlap
    assert all(run.isoformat(timespec="minutes") in overlap for run in runs)
    assert await server_runs_at(temporal_client, made["schedule"], berlin, march, 2, 30) == []

    described = pipeline_cli(settings, "schedule", "describe", made["name"])
    assert described.returncode == 0, described.stderr[-2000:]
    shown = json.loads(described.stdout)
    assert (shown["cron"], shown["time_zone"]) == (["30 2 * * *"], "Europe/Berlin")
    next_run = datetime.fromisoformat(shown["next"][0]).astimezone(berlin)
    assert (next_run.hour, next_run.minute) == (2, 30)  # Berlin's 02:30, not UTC's.

    listed = pipeline_cli(settings, "schedule", "ls", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    row = next(r for r in json.loads(listed.stdout)["schedules"] if r["name"] == made["name"])
    assert row["time_zone"] == "Europe/Berlin"
    text = pipeline_cli(settings, "schedule", "ls").stdout.splitlines()
    line = next(line for line in text if line.startswith(made["name"] + " "))
    assert f"next {next_run.isoformat()}" in line
    assert "Europe/Berlin" in line


async def test_a_cron_tz_prefix_is_the_zone_and_a_repeated_hour_is_warned_on_stderr(
    settings: Settings, names: list[str], temporal_client: Client
) -> None:
    new_york = ZoneInfo("America/New_York")
    november = next_sunday(datetime.now(new_york).date(), 11, 1)
    name = f"tz{uuid.uuid4().hex[:6]}"
    names.append(name)

    done = pipeline_cli(
        settings, "schedule", "create", name, "--cron", "CRON_TZ=America/New_York 30 1 * * *"
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{BATCH_WORKFLOW_PREFIX}{name}: created (America/New_York)"
    warnings = done.stderr.strip().splitlines()
    runs = await server_runs_at(
        temporal_client, BATCH_WORKFLOW_PREFIX + name, new_york, november, 1, 30
    )
    assert len(warnings) == 1, warnings  # 01:30 is not in March's gap (02:00 to 03:00).
    assert warnings[0].startswith(
        f"warning: America/New_York: 01:30 happens twice on {november.isoformat()} "
    )
    assert f"Temporal starts {len(runs)} run" in warnings[0]
    shown = json.loads(pipeline_cli(settings, "schedule", "describe", name).stdout)
    assert shown["time_zone"] == "America/New_York"


def test_a_utc_cron_and_an_interval_have_nothing_to_warn_about(
    settings: Settings, names: list[str]
) -> None:
    at_night = create(settings, names, "--cron", "30 2 * * *")
    hourly = create(settings, names, "--every", "1h")

    assert (at_night["time_zone"], at_night["warnings"]) == ("UTC", [])
    assert (hourly["time_zone"], hourly["warnings"]) == ("UTC", [])
    shown = json.loads(pipeline_cli(settings, "schedule", "describe", at_night["name"]).stdout)
    assert shown["time_zone"] == "UTC"
