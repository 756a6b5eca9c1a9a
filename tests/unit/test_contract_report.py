"""The contract report names every captured scenario and only tests that exist."""

from __future__ import annotations

import ast
from pathlib import Path

from bench.contract_report import SCENARIOS, markdown, report

CAPTURED = Path(__file__).parents[1] / "data" / "comfyui_contract" / "ws"
CONTRACT_TESTS = Path(__file__).parents[1] / "integration" / "test_comfy_sim_contract.py"


def test_every_captured_scenario_has_a_row() -> None:
    names = {scenario.name for scenario in SCENARIOS}
    assert {path.stem for path in CAPTURED.glob("*.jsonl")} <= names


def test_every_test_the_report_relies_on_exists() -> None:
    tree = ast.parse(CONTRACT_TESTS.read_text())  # read, not imported: no test imports a test
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for scenario in SCENARIOS:
        for test in scenario.tests:
            assert test.split("[")[0] in defined, test


def test_a_scenario_matches_only_if_all_its_tests_passed() -> None:
    outcomes = {
        "test_fresh_run_reports_like_the_real_server": True,
        "test_scenario_reports_like_the_real_server[f_runtime_error_contractfail-before3]": True,
        "test_failure_carries_the_captured_exception[f_runtime_error_contractfail]": False,
    }

    verdicts = {row.scenario: row.matches for row in report(outcomes)}
    table = markdown(report(outcomes))

    assert verdicts["a_success_core"]
    assert not verdicts["f_runtime_error_contractfail"]
    assert "| f_runtime_error_contractfail | a node raising RuntimeError | NO |" in table
    assert "| e_interrupt | POST /interrupt during a 40-step node | not checked |" in table
