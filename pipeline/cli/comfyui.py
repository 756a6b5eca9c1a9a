"""``pipeline comfyui capture``: re-record, from a running ComfyUI, what comfy-sim copies.

Exit codes: 0 every scenario ended as expected and the server has every node the graphs
use; 1 something did not (the files are still written, ``capture.json`` says what); 2 bad
arguments; 4 the server is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from pipeline.cli.context import App, ExitCode
from pipeline.comfy.capture.run import SCENARIO_NAMES, CaptureRequest, capture
from pipeline.domain.errors import WorkerUnavailable
from pipeline.media import extract_last_frames
from workflows_comfy.bound import read_workflow

EXAMPLES = Path("deploy/presets/examples")
"""The bring-your-own-graph examples (relative to the checkout, like ``deploy/models.lock``)."""


def _last_frame(video: Path, folder: Path) -> Path:
    (frame,) = extract_last_frames(video, folder, 1)
    return frame


@click.group()
def comfyui() -> None:
    """Talk to a ComfyUI server directly (not through the pipeline)."""


@comfyui.command("capture")
@click.option("--url", help="The ComfyUI to capture (default: COMFYUI_URL).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the capture; created if missing, files in it overwritten.",
)
@click.option(
    "--scenario",
    "selected",
    multiple=True,
    type=click.Choice(SCENARIO_NAMES),
    help="Only these scenarios (repeatable; the ones they continue run too). Default: all.",
)
@click.option(
    "--tokenizer-options",
    is_flag=True,
    help="Capture/test only: add T5TokenizerOptions(min_padding=0, min_length=0) after every "
    "CLIPLoader, so a CPU text encode takes seconds, not minutes (recorded in capture.json).",
)
@click.option(
    "--examples",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=EXAMPLES,
    show_default=True,
    help="Folder of API-format graphs (*.json) whose nodes object_info.json keeps too.",
)
@click.option(
    "--node", "nodes", multiple=True, help="Also keep this node class's object_info entry."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=1800.0,
    show_default=True,
    help="Seconds one prompt may take.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (capture.json).")
@click.pass_obj
def capture_command(
    app: App,
    url: str | None,
    out: Path,
    selected: tuple[str, ...],
    tokenizer_options: bool,
    examples: Path,
    nodes: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Run the reference scenarios on a ComfyUI and write what it answered as data.

    OUT gets object_info.json (the entries of every node the presets' and the examples'
    graphs use), system_stats.json, transcripts/NAME.{graph.json,history.json,ws.jsonl},
    http/NAME.json and capture.json: the layout of comfy-sim's contract data.
    """
    try:
        graphs = [read_workflow(path) for path in sorted(examples.glob("*.json"))]
    except ValueError as exc:
        raise click.UsageError(f"--examples: {exc}") from None
    request = CaptureRequest(
        url=url or app.settings.comfy_url,
        out=out,
        selected=selected or SCENARIO_NAMES,
        tokenizer_options=tokenizer_options,
        extra_graphs=graphs,
        extra_nodes=nodes,
        timeout=timeout,
    )
    board = app.terminal.board(as_json=as_json)
    try:
        report = asyncio.run(
            capture(request, last_frame=_last_frame, say=lambda line: board.show([line]))
        )
    except WorkerUnavailable as exc:
        board.clear()
        click.echo(f"error: {exc.message.splitlines()[0]}", err=True)
        sys.exit(ExitCode.UNREACHABLE)
    board.clear()
    failed = [s for s in report["scenarios"] if not s["as_expected"]]
    missing = report["object_info"]["missing"]
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for scenario in report["scenarios"]:
            mark = "ok" if scenario["as_expected"] else f"expected {scenario['expected']}"
            click.echo(f"{scenario['name']:<22} {scenario['outcome']:<24} {mark}")
        nodes_line = f"{len(report['object_info']['nodes'])} nodes"
        if missing:
            nodes_line += f", missing {', '.join(missing)}"
        click.echo(
            f"{out}: ComfyUI {report['comfyui_version']}, {len(report['scenarios'])} "
            f"scenario(s), {len(failed)} not as expected; object_info {nodes_line}; "
            f"{report['seconds']:g} s"
        )
    sys.exit(ExitCode.FAILED if failed or missing else ExitCode.OK)


COMMANDS = [comfyui]
