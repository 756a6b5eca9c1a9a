"""Contract report: each scenario captured from a real ComfyUI, and whether comfy-sim matches it.

Runs ``tests/integration/test_comfy_sim_contract.py`` (which replays the captures against a
fresh comfy-sim) and maps its outcomes onto the captured scenarios, so the table can never
claim more than the tests check. Prints a Markdown table; ``--json`` writes the same rows.

    .venv/bin/python -m bench.contract_report [--json contract_report.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
CONTRACT_TESTS = ROOT / "tests" / "integration" / "test_comfy_sim_contract.py"
TRANSCRIPT = (
    "WS message types in order, every message's field names and value kinds, /history shape"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    compared: str
    tests: tuple[str, ...]
    """Test functions (``name`` or ``name[param-part]``) that check this scenario."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "a_success_core",
        "LoadImage → ImageScale → SaveImage, nothing cached",
        TRANSCRIPT,
        ("test_fresh_run_reports_like_the_real_server",),
    ),
    Scenario(
        "h_second_client_during_a",
        "a second WebSocket client during a",
        "WS message types and shapes the bystander receives",
        ("test_second_client_only_sees_status_broadcasts",),
    ),
    Scenario(
        "b_cached_same_prompt",
        "a again, everything cached",
        TRANSCRIPT + "; the cached output node replays its old output",
        ("test_same_prompt_again_is_cached_and_replays_its_output",),
    ),
    Scenario(
        "c_video_core_savevideo",
        "CreateVideo + SaveVideo (mp4, h264) with audio",
        TRANSCRIPT + "; /view headers of the video",
        (
            "test_scenario_reports_like_the_real_server[c_video_core_savevideo",
            "test_view_serves_files_with_the_captured_headers",
        ),
    ),
    Scenario(
        "c_video_vhs_videocombine",
        "VHS_VideoCombine h264-mp4 with audio (output under 'gifs')",
        TRANSCRIPT,
        ("test_scenario_reports_like_the_real_server[c_video_vhs_videocombine",),
    ),
    Scenario(
        "d_progress_slow8",
        "ContractSlowProgress, 8 steps",
        TRANSCRIPT + " (progress and progress_state)",
        ("test_scenario_reports_like_the_real_server[d_progress_slow8",),
    ),
    Scenario(
        "d2_progress_preview_legacy_client",
        "previews to a client without feature flags",
        TRANSCRIPT + "; binary frames of type 1",
        ("test_previews_arrive_as_the_client_negotiated[d2_progress_preview_legacy_client",),
    ),
    Scenario(
        "d3_progress_preview_feature_flags",
        "previews to a client announcing supports_preview_metadata",
        TRANSCRIPT + "; binary frames of type 4",
        ("test_previews_arrive_as_the_client_negotiated[d3_progress_preview_feature_flags",),
    ),
    Scenario(
        "e_interrupt",
        "POST /interrupt during a 40-step node",
        "WS message types in order (repeated progress collapsed: their count is timing), "
        "execution_interrupted's shape, /history shape",
        ("test_interrupt_stops_the_running_node",),
    ),
    Scenario(
        "f_runtime_error_contractfail",
        "a node raising RuntimeError",
        TRANSCRIPT + "; exception type, message and traceback",
        (
            "test_scenario_reports_like_the_real_server[f_runtime_error_contractfail",
            "test_failure_carries_the_captured_exception[f_runtime_error_contractfail",
        ),
    ),
    Scenario(
        "f2_runtime_error_contractoom",
        "a node raising torch.OutOfMemoryError",
        TRANSCRIPT + "; exception type, message (with the OOM tips) and traceback",
        (
            "test_scenario_reports_like_the_real_server[f2_runtime_error_contractoom",
            "test_failure_carries_the_captured_exception[f2_runtime_error_contractoom",
        ),
    ),
    Scenario(
        "g_wan_i2v_empty_weights",
        "Wan I2V graph; VAELoader fails on an empty weights file",
        TRANSCRIPT + "; the failure is injected (POST /sim/faults), comfy-sim has no files",
        ("test_wan_graph_failing_in_its_first_loader_reports_like_the_real_server",),
    ),
    Scenario(
        "i_no_client_id_in_prompt",
        "prompt posted without client_id",
        TRANSCRIPT + " (only broadcasts arrive)",
        ("test_prompt_without_client_id_only_broadcasts",),
    ),
    Scenario(
        "j_queue_ops",
        "4 slow prompts: /queue, delete, clear, /interrupt with a prompt_id",
        "/queue contents, /prompt counts, delete/clear effects, history of the interrupted run",
        ("test_queue_lists_deletes_and_clears_pending_prompts",),
    ),
    Scenario(
        "http: rejected prompts",
        "every post_prompt_err_* capture",
        "status, content type and the whole body",
        ("test_rejected_prompt_gets_the_captured_answer",),
    ),
    Scenario(
        "http: files",
        "/upload/image and /view captures",
        "status codes, stored names, headers",
        (
            "test_view_refuses_like_the_real_server",
            "test_upload_dedupes_renames_and_refuses_like_the_real_server",
        ),
    ),
    Scenario(
        "http: simple GETs",
        "/history/unknown, /object_info/unknown, /models, /features, /embeddings, /api/queue",
        "status and body",
        (
            "test_simple_get_answers_like_the_real_server",
            "test_number_counts_every_post_and_front_is_negative",
        ),
    ),
    Scenario(
        "http: the other captures",
        "/history listings, /system_stats, /models, /free, /history delete, preview and channel "
        "views, object_info after an upload",
        "not compared to their captures (several are exercised by the scenarios above)",
        (),
    ),
)


@dataclass(frozen=True)
class Row:
    scenario: str
    what: str
    matches: bool
    compared: str
    tests: list[str]


class _Outcomes:
    """Pytest plugin: the worst outcome of each test id over its phases."""

    def __init__(self) -> None:
        self.passed: dict[str, bool] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.split("::", 1)[-1]
        if report.failed:
            self.passed[name] = False
        elif report.when == "call":
            self.passed.setdefault(name, report.passed)


def _checked_by(scenario: Scenario, outcomes: dict[str, bool]) -> list[str]:
    return [
        test
        for test in outcomes
        if any(
            test == ref or test.startswith(ref if "[" in ref else ref + "[")
            for ref in scenario.tests
        )
    ]


def report(outcomes: dict[str, bool]) -> list[Row]:
    rows = []
    for scenario in SCENARIOS:
        tests = _checked_by(scenario, outcomes)
        matches = bool(tests) and all(outcomes[t] for t in tests)
        rows.append(Row(scenario.name, scenario.what, matches, scenario.compared, tests))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = ["| scenario | what | comfy-sim matches | compared |", "|---|---|---|---|"]
    for row in rows:
        verdict = "yes" if row.matches else ("NO" if row.tests else "not checked")
        lines.append(f"| {row.scenario} | {row.what} | {verdict} | {row.compared} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    outcomes = _Outcomes()
    pytest.main([str(CONTRACT_TESTS), "-q", "-p", "no:cacheprovider"], plugins=[outcomes])
    rows = report(outcomes.passed)
    print(markdown(rows))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
