"""``pipeline cost``: what the runs that finished in a window used and cost, by group.

It reads the bucket's records (``sessions/*/result.json``, else ``error.json``: the latest
record lists every run, ``pipeline.reprocess.session_records``) and sums the runs whose
``finished_at`` lies in the window, each run once by its own ``cost``
(``pipeline.domain.cost``): a rerun is its own run, re-renders are in the run that made them.
Runs recorded without a cost (cancelled ones, records from before costs) are counted apart.

Exit codes: 0 the report was printed (also when no run matched); 2 bad input (``--since``,
``--by``: one line); 4 the store did not answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import click

from pipeline.cli.context import App
from pipeline.cli.params import MOMENT
from pipeline.domain.cost import Cost, total
from pipeline.domain.layout import INBOX_PREFIX, drop_folder, is_manifest_key
from pipeline.domain.records import ErrorRecord, SessionRecord, runs_so_far
from pipeline.reprocess import session_records
from pipeline.storage import ObjectStore

GroupBy = Literal["preset", "kind", "prefix"]
GROUPINGS: tuple[GroupBy, ...] = ("preset", "kind", "prefix")
NONE = "-"
"""The group of a record without the field grouped by (no preset, a drop key unknown)."""


@dataclass
class Group:
    """The runs of one group (and currency) in the window."""

    name: str
    currency: str
    costs: list[Cost] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        summed = total(self.costs)
        return {
            "group": self.name,
            "currency": self.currency,
            "runs": len(self.costs),
            "cost": summed.model_dump(mode="json") if summed else None,
        }


@dataclass
class Report:
    """``pipeline cost``'s answer; ``as_json`` is what ``--json`` prints."""

    since: datetime
    until: datetime
    by: GroupBy
    groups: list[Group]
    uncosted: int
    """Runs in the window recorded without a cost."""

    def totals(self) -> list[Group]:
        """One group per currency: every run in the window."""
        by_currency: dict[str, Group] = {}
        for group in self.groups:
            into = by_currency.setdefault(group.currency, Group("total", group.currency))
            into.costs.extend(group.costs)
        return list(by_currency.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "by": self.by,
            "groups": [group.as_json() for group in self.groups],
            "totals": [group.as_json() for group in self.totals()],
            "runs_without_cost": self.uncosted,
        }


def drop_prefix(drop_key: str | None) -> str:
    """The folder a drop was made in: ``inbox/team-a/clip/manifest.json`` → ``inbox/team-a/``
    (``inbox/`` for a drop at the top); ``-`` when the key is unknown."""
    if drop_key is None or not is_manifest_key(drop_key):
        return NONE
    parent = drop_folder(drop_key).rstrip("/").rpartition("/")[0]
    return f"{parent}/" if parent else INBOX_PREFIX


def report(
    records: Iterable[SessionRecord | ErrorRecord],
    *,
    since: datetime,
    until: datetime,
    by: GroupBy,
) -> Report:
    """Sum the runs of ``records`` that finished in ``[since, until]``, grouped ``by``."""
    groups: dict[tuple[str, str], Group] = {}
    uncosted = 0
    for record in records:
        name = {
            "preset": record.preset,
            "kind": record.kind,
            "prefix": drop_prefix(record.drop_key),
        }[by] or NONE
        for run in runs_so_far(record):
            if run.finished_at is None or not since <= run.finished_at <= until:
                continue
            if run.cost is None:
                uncosted += 1
                continue
            key = (name, run.cost.currency)
            groups.setdefault(key, Group(name, run.cost.currency)).costs.append(run.cost)
    ordered = [groups[key] for key in sorted(groups)]
    return Report(since=since, until=until, by=by, groups=ordered, uncosted=uncosted)


def table(found: Report) -> list[str]:
    """The report for people: one line per group, then the totals."""
    head = ("group", "runs", "gpu s", "cpu s", "stored GB", "moved GB", "cost")
    rows = [head]
    for group in [*found.groups, *found.totals()]:
        summed = total(group.costs)
        if summed is None:
            continue
        usage, amount = summed.usage, summed.amounts.total
        rows.append(
            (
                group.name,
                str(len(group.costs)),
                f"{sum(usage.gpu_s.values()):.1f}",
                f"{usage.cpu_s:.1f}",
                _gb(usage.bytes_stored),
                _gb(usage.bytes_moved),
                NONE if amount is None else f"{amount:.4f} {summed.currency}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def _gb(count: int | None) -> str:
    return NONE if count is None else f"{count / 10**9:.3f}"


@click.command()
@click.option(
    "--since",
    type=MOMENT,
    default="7d",
    show_default=True,
    help="Runs finished since: 24h, 7d or an ISO date.",
)
@click.option(
    "--by", type=click.Choice(GROUPINGS), default="preset", show_default=True, help="Group by."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def cost(app: App, since: datetime, by: GroupBy, as_json: bool) -> None:
    """What the runs finished since --since used and cost, grouped by preset, kind or the
    drop's inbox prefix, with totals (prices: PRICE_* when the runs were recorded)."""
    until = datetime.now(UTC)

    async def fetch() -> list[SessionRecord | ErrorRecord]:
        async with ObjectStore(app.settings) as store:
            return [record async for _, record in session_records(store)]

    found = report(asyncio.run(fetch()), since=since, until=until, by=by)
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2))
        return
    if not found.groups:
        click.echo(f"no run with a cost finished since {since.isoformat()}", err=True)
    else:
        for line in table(found):
            click.echo(line)
    if found.uncosted:
        click.echo(f"{found.uncosted} run(s) in the window have no cost recorded", err=True)


COMMANDS = (cost,)
