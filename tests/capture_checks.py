"""What every test of ``pipeline comfyui capture`` checks in a capture's folder, whichever
server it recorded (comfy-sim in ``tests/integration``, a real ComfyUI in ``tests/real_comfyui``).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli.app import cli
from pipeline.comfy.capture.graphs import scenarios

EXAMPLES = Path(__file__).parents[1] / "deploy" / "presets" / "examples"
TRANSCRIPTS = [s.name for s in scenarios()]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def check_transcript(out: Path, name: str, *, tokenizer_options: bool = False) -> None:
    """Scenario ``name``'s three files under ``out/transcripts``: the graph is the builders'
    (with ``T5TokenizerOptions`` when ``tokenizer_options``), written as the reference capture
    wrote it; ``/history`` has its prompt; the frames run in time from a ``status`` with the
    ``sid`` to ``executing`` null of that prompt. Raises ``AssertionError`` on the first
    difference."""
    base = out / "transcripts" / name
    graph = json.loads(base.with_suffix(".graph.json").read_text())
    history = json.loads(base.with_suffix(".history.json").read_text())
    lines = base.with_suffix(".ws.jsonl").read_text().split("\n")
    frames = [json.loads(line) for line in lines]
    prompt_id = history["prompt"][1]

    built = scenarios(tokenizer_options=tokenizer_options)
    assert graph == next(s.graph for s in built if s.name == name)
    assert history["prompt"][2] == graph
    # The reference capture's bytes: indented by 1, UTF-8 unescaped, no final newline.
    assert base.with_suffix(".graph.json").read_text() == json.dumps(
        graph, indent=1, ensure_ascii=False
    )
    assert {"prompt", "outputs", "status"} <= history.keys()
    assert all(list(frame) == ["t", "type", "data"] for frame in frames)
    times = [frame["t"] for frame in frames]
    assert times == sorted(times)
    assert times[0] >= 0
    assert frames[0]["type"] == "status"
    assert "sid" in frames[0]["data"]
    assert frames[-1] == {
        "t": times[-1],
        "type": "executing",
        "data": {"node": None, "prompt_id": prompt_id},
    }
