"""``Starter.handle``, the path every event source hands a parsed event to."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs
from temporalio.client import Client

from pipeline.domain.drop import DropRef
from pipeline.ingest import starter as starter_module
from pipeline.ingest.events import ParsedEvents
from pipeline.ingest.starter import Starter, StartOutcome

DROPS = [DropRef.of("media", f"inbox/{name}/manifest.json", "abc") for name in ("a", "b")]
REFUSED = ["inbox/c/manifest.json is empty", "inbox/manifest.json is outside a drop folder"]


class RecordingStarter(Starter):
    """Records the drops it is asked to start; fails those in ``failing``."""

    def __init__(self, client: Client, failing: frozenset[str] = frozenset()) -> None:
        super().__init__(client, task_queue="pipeline", gpu_task_queue="gpu")
        self.failing = failing
        self.started: list[tuple[str, str]] = []

    async def start(self, drop: DropRef, *, source: str) -> StartOutcome:
        if drop.manifest_key in self.failing:
            raise RuntimeError(f"cannot start {drop.manifest_key}")
        self.started.append((drop.manifest_key, source))
        return StartOutcome.STARTED


@pytest.fixture(autouse=True)
def fresh_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """A logger not yet bound, so ``capture_logs`` sees it even after an earlier test's
    ``configure_logging`` cached the module's own (``cache_logger_on_first_use``)."""
    monkeypatch.setattr(starter_module, "log", structlog.get_logger())


async def _client() -> Client:
    return await Client.connect("127.0.0.1:9", lazy=True)  # never dialled


async def test_it_starts_every_drop_then_warns_once_per_refusal() -> None:
    starter = RecordingStarter(await _client())
    with capture_logs() as logs:
        await starter.handle(ParsedEvents(drops=DROPS, refused=REFUSED), source="sqs")

    assert sorted(starter.started) == [(drop.manifest_key, "sqs") for drop in DROPS]
    assert [(log["event"], log["log_level"], log["reason"]) for log in logs] == [
        ("drop_refused", "warning", reason) for reason in REFUSED
    ]


async def test_a_failed_start_raises_after_the_others_and_warns_nothing() -> None:
    starter = RecordingStarter(await _client(), failing=frozenset({DROPS[0].manifest_key}))
    with capture_logs() as logs, pytest.raises(RuntimeError, match=r"inbox/a/manifest\.json"):
        await starter.handle(ParsedEvents(drops=DROPS, refused=REFUSED), source="r2")

    assert starter.started == [(DROPS[1].manifest_key, "r2")]
    assert logs == []
