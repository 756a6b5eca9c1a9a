"""``pipeline rerender``: render a session again from one segment on, as a new run.

Exit codes: 0 started (with ``--wait``: the new run succeeded); 1 the new run failed or was
cancelled; 2 bad input (a segment past the plan's, a field a rerender may not change);
3 no such session (or one that never succeeded); 5 ``--timeout`` ran out (it goes on).
"""

from __future__ import annotations

import asyncio
import json

import click

from pipeline.cli.context import App, NotFound
from pipeline.cli.follow import follow_to_end
from pipeline.cli.upload import parse_assignments
from pipeline.domain.errors import NoSuchSession
from pipeline.rerender import RERENDER_FIELDS, RerenderStarted, start_rerender
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect


@click.command()
@click.argument("session_id")
@click.option(
    "--segment",
    type=click.IntRange(min=1),
    required=True,
    help="1-based, as 'pipeline status' counts: the first segment rendered again (every "
    "later one is too: it continues the one before).",
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    help=f"Change {', '.join(RERENDER_FIELDS)} for the new run, e.g. --set seed=7.",
)
@click.option("--wait", is_flag=True, help="Follow the new run to its end.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=3600.0,
    show_default=True,
    help="Seconds --wait follows it; then it exits 5 and the run goes on.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def rerender(
    app: App,
    session_id: str,
    segment: int,
    assignments: tuple[str, ...],
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Render SESSION_ID again from --segment on and stitch a new run beside the earlier
    ones (result.json's runs); the segments before it are kept as they were."""
    overrides = parse_assignments(list(assignments))

    async def start() -> RerenderStarted:
        client = await connect(app.settings)
        async with ObjectStore(app.settings) as store:
            return await start_rerender(
                client, store, app.settings, session_id, segment=segment, overrides=overrides
            )

    try:
        started = asyncio.run(start())
    except NoSuchSession as exc:
        raise NotFound(exc.message) from None
    if wait:
        follow_to_end(app, started.workflow_id, limit_s=timeout, as_json=as_json)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "session_id": started.session_id,
                    "workflow_id": started.workflow_id,
                    "source_run": started.source_run,
                    "segment": started.segment,
                    "segments": started.segments,
                    "overrides": started.overrides,
                }
            )
        )
    else:
        click.echo(
            f"rerender {started.workflow_id}: segments {started.segment}-{started.segments} of "
            f"{started.segments} again, 1-{started.segment - 1} kept from run "
            f"{started.source_run} ('pipeline status {started.workflow_id}' follows it)"
            if started.segment > 1
            else f"rerender {started.workflow_id}: every segment again "
            f"('pipeline status {started.workflow_id}' follows it)"
        )


COMMANDS = [rerender]
