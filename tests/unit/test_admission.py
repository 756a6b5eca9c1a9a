"""Admission: which of a GPU worker's queues may poll, and one task on the GPU at a time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from temporalio.worker import SlotPermit, SlotReleaseContext

from pipeline.domain.errors import WorkerBusy
from pipeline.fleet.admission import Admission, QueueSlots, SessionRun

TOKEN = b"attempt-1"
"""An activity attempt's task token."""
OWN = "gpu.worker.box-1"


@dataclass
class _Info:
    activity_type: str = "generate_segment"


@dataclass
class _Used:
    slot_info: _Info
    permit: SlotPermit


async def _ready(presets: set[str]) -> Admission:
    admission = Admission(OWN)
    await admission.set_serving(frozenset(presets))
    await admission.set_ready(True)
    return admission


async def _reserves(slots: QueueSlots, within: float = 0.1) -> bool:
    """Whether ``slots`` would poll now; the reservation is handed back (the poll found none)."""
    try:
        async with asyncio.timeout(within):
            permit = await slots.reserve_slot(None)  # type: ignore[arg-type]
    except TimeoutError:
        return False
    slots.release_slot(SlotReleaseContext(slot_info=None, permit=permit))
    await _settle()
    return True


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_nothing_polls_until_the_worker_is_ready() -> None:
    admission = Admission(OWN)
    await admission.set_serving(frozenset({"fp8"}))
    own, preset = QueueSlots(admission, None), QueueSlots(admission, "fp8")

    assert not await _reserves(own)
    assert not await _reserves(preset)
    await admission.set_ready(True)
    assert await _reserves(own)
    assert await _reserves(preset)


async def test_a_preset_the_comfyui_cannot_run_is_not_polled() -> None:
    admission = await _ready({"gguf"})

    assert not await _reserves(QueueSlots(admission, "fp8"))
    assert await _reserves(QueueSlots(admission, "gguf"))


async def test_a_separation_queue_polls_only_while_the_worker_can_separate() -> None:
    admission = await _ready({"fp8"})
    vocals = QueueSlots(admission, "fp8", separation=True)
    assert not await _reserves(vocals)  # not checked yet: unavailable

    await admission.set_separation("stand-in: tiny demucs")
    assert await _reserves(vocals)
    assert not await _reserves(QueueSlots(admission, "gguf", separation=True))

    # The model failed to load: the separation queue stops, the preset's queue goes on.
    await admission.set_separation("unavailable: cannot load the Demucs model")
    assert not await _reserves(vocals)
    assert await _reserves(QueueSlots(admission, "fp8"))


async def _take(slots: QueueSlots) -> None:
    """A poll of ``slots`` answered with a task."""
    permit = await slots.reserve_slot(None)  # type: ignore[arg-type]
    slots.mark_slot_used(_Used(_Info(), permit))  # type: ignore[arg-type]
    await _settle()


async def test_no_queue_polls_while_a_task_is_lined_up_behind_the_gpu() -> None:
    admission = await _ready({"fp8", "gguf"})
    fp8, gguf, own = (QueueSlots(admission, p) for p in ("fp8", "gguf", None))
    await _take(fp8)

    assert admission.lined_up == 1
    assert not await _reserves(gguf)
    assert not await _reserves(own)


async def test_a_queue_polls_once_at_a_time() -> None:
    admission = await _ready({"fp8"})
    own = QueueSlots(admission, None)
    permit = await own.reserve_slot(None)  # type: ignore[arg-type]

    assert not await _reserves(own)
    own.release_slot(SlotReleaseContext(slot_info=None, permit=permit))
    await _settle()
    assert await _reserves(own)


async def test_a_worker_takes_on_two_sessions_until_one_has_no_more_gpu_work() -> None:
    admission = await _ready({"fp8"})
    fp8 = QueueSlots(admission, "fp8")
    for session in ("s1", "s2"):
        async with (
            admission.task(
                "gpu.fp8", SessionRun(session), more_to_come=True, task_token=TOKEN
            ) as turn,
            turn.gpu(),
        ):
            pass

    assert admission.open_sessions == 2
    assert not await _reserves(fp8)
    async with (
        admission.task(OWN, SessionRun("s1"), more_to_come=False, task_token=TOKEN) as turn,
        turn.gpu(),
    ):
        pass
    assert await _reserves(fp8)


async def test_a_session_whose_next_task_never_came_stops_counting() -> None:
    admission = Admission(OWN, keep_open_s=0.05)
    await admission.set_serving(frozenset({"fp8"}))
    await admission.set_ready(True)
    for session in ("s1", "s2"):
        async with (
            admission.task(
                "gpu.fp8", SessionRun(session), more_to_come=True, task_token=TOKEN
            ) as turn,
            turn.gpu(),
        ):
            pass

    assert not await _reserves(QueueSlots(admission, "fp8"), within=0.01)
    assert await _reserves(QueueSlots(admission, "fp8"), within=1.0)


async def test_draining_stops_every_queue() -> None:
    admission = await _ready({"fp8"})
    await admission.drain()

    assert not await _reserves(QueueSlots(admission, None))
    assert not await _reserves(QueueSlots(admission, "fp8"))


async def test_while_a_prompt_runs_one_task_is_lined_up_and_a_second_refused() -> None:
    admission = await _ready({"fp8", "gguf"})
    fp8, gguf, own = (QueueSlots(admission, p) for p in ("fp8", "gguf", None))
    order: list[str] = []
    release = asyncio.Event()

    async def running() -> None:
        async with (
            admission.task(
                "gpu.fp8", SessionRun("s1"), more_to_come=False, task_token=TOKEN
            ) as turn,
            turn.gpu(),
        ):
            order.append("first")
            await release.wait()

    async def sticky() -> None:
        async with (
            admission.task(OWN, SessionRun("s2"), more_to_come=False, task_token=TOKEN) as turn,
            turn.gpu(),
        ):
            order.append("sticky")

    await _take(fp8)
    first = asyncio.create_task(running())
    await _settle()
    late = await gguf.reserve_slot(None)  # type: ignore[arg-type]  # GPU busy, none lined up
    await _take(own)
    second = asyncio.create_task(sticky())
    await _settle()
    assert not await _reserves(fp8)
    gguf.mark_slot_used(_Used(_Info(), late))  # type: ignore[arg-type]  # answered late
    await _settle()
    with pytest.raises(WorkerBusy):
        async with admission.task(
            "gpu.gguf", SessionRun("s3"), more_to_come=False, task_token=TOKEN
        ):
            order.append("never")
    release.set()
    await asyncio.gather(first, second)

    assert order == ["first", "sticky"]


async def test_a_task_storing_its_output_does_not_hold_back_the_next() -> None:
    admission = await _ready({"fp8", "gguf"})
    fp8, gguf = QueueSlots(admission, "fp8"), QueueSlots(admission, "gguf")
    await _take(fp8)
    polls: list[bool] = []

    async with admission.task(
        "gpu.fp8", SessionRun("s1"), more_to_come=False, task_token=TOKEN
    ) as turn:
        assert admission.held == {TOKEN}  # announced, for a successor to end if killed
        polls.append(await _reserves(gguf))  # lined up: uploading its inputs
        async with turn.gpu():
            polls.append(await _reserves(gguf))  # on the GPU
        polls.append(await _reserves(gguf))  # storing its output

    assert polls == [False, True, True]
    assert admission.held == frozenset()


async def test_a_released_session_frees_its_slot_at_once() -> None:
    admission = await _ready({"fp8"})
    fp8 = QueueSlots(admission, "fp8")
    sessions = [SessionRun("session-s1", "run-1"), SessionRun("session-s2", "run-1")]
    for session in sessions:
        async with (
            admission.task("gpu.fp8", session, more_to_come=True, task_token=TOKEN) as turn,
            turn.gpu(),
        ):
            pass
    marks = admission.slot_marks
    assert {session for session, _ in marks} == set(sessions)
    assert all(0 < left <= admission.keep_open_s for left in admission.slots.values())
    assert not await _reserves(fp8)

    await admission.release(SessionRun("session-s1", "run-2"))  # another run: holds nothing
    assert not await _reserves(fp8)
    await admission.release(sessions[0])

    assert await _reserves(fp8)
    assert set(admission.slots) == {sessions[1]}
    assert admission.slot_marks != marks


async def test_the_record_is_told_when_a_slot_is_taken_or_freed() -> None:
    admission = await _ready({"fp8"})
    session = SessionRun("session-s1", "run-1")
    told = asyncio.create_task(
        admission.announced_changed(admission.separation, admission.held, True, frozenset())
    )
    await _settle()
    assert not told.done()
    async with (
        admission.task("gpu.fp8", session, more_to_come=True, task_token=TOKEN) as turn,
        turn.gpu(),
    ):
        pass
    await asyncio.wait_for(told, 1)

    marks = admission.slot_marks
    freed = asyncio.create_task(
        admission.announced_changed(admission.separation, admission.held, True, marks)
    )
    await _settle()
    assert not freed.done()
    await admission.release(session)
    await asyncio.wait_for(freed, 1)
