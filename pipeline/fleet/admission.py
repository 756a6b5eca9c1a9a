"""Admission control for a GPU worker: which of its task queues may poll, and the one GPU.

A GPU worker runs one Temporal ``Worker`` per task queue (its own queue and one per preset
it serves) and all of them share one ComfyUI, which runs one prompt at a time. Temporal
polls a queue only after the worker's slot supplier hands out a slot, so ``QueueSlots``
(a ``CustomSlotSupplier``, one per queue, one poll at a time) is where the worker says no:

- nothing polls while the worker is not ready (ComfyUI down, warming up) or draining;
- otherwise a queue polls while no task is lined up behind the prompt running now: the
  worker holds one prompt on the GPU and at most one task ready to follow it (inputs
  uploaded, graph checked), so the GPU never waits on the network or on Temporal, and
  tasks that only store their outputs do not count;
- a preset's queue (and its separation queue, while the worker can separate vocals) polls
  only while the preset is served and fewer than
  ``MAX_OPEN_SESSIONS`` sessions expect more GPU work here. Two keep the GPU busy (one
  renders while the other's next segment is prepared on a CPU worker); more would make a
  session's next segment wait behind others' instead of going to an idle worker. The own
  queue (later GPU tasks of the sessions it runs) has no such limit.

A poll cannot be withdrawn once sent, so a preset task can still arrive while the GPU runs
another prompt with a task already lined up (two queues polled, both answered):
``Admission.task`` refuses it with ``WorkerBusy`` and the workflow sends it straight back
to the preset queue.

A session keeps its slot (``Admission.slots``) from a GPU task that succeeded with more to
come until its next GPU task here ends, or at most ``keep_open_s`` (the workflow's sticky
wait). A session that ends in between (cancelled, failed on a CPU worker, terminated) sends
no next task: ``pipeline.fleet.sessions`` asks Temporal about each held slot and ``release``
frees the slots of sessions that ended, so two of them cannot idle the GPU for the sticky
window (PrefectHQ/prefect#8566: slots not released when flow runs are cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)

from pipeline.domain.errors import WorkerBusy

MAX_OPEN_SESSIONS = 2
"""Sessions a worker takes on at once (see the module docstring)."""


@dataclass(frozen=True)
class SessionRun:
    """The workflow run of a session whose GPU task this worker ran (``activity.info()``'s
    ``workflow_id`` and ``workflow_run_id``): what holds a slot, and what Temporal is asked
    about."""

    workflow_id: str
    run_id: str | None = None


class Admission:
    """The state every queue's slot supplier and every GPU activity of one worker share."""

    def __init__(self, worker_task_queue: str, keep_open_s: float = 600.0) -> None:
        self.worker_task_queue = worker_task_queue
        """This worker's own queue: later GPU tasks of the sessions it runs come here."""
        self.keep_open_s = keep_open_s
        """How long a session's next GPU task is expected here (the workflow's sticky wait)."""
        self.loop = asyncio.get_running_loop()
        """Slot callbacks may come from the SDK's own threads; state changes run here."""
        self._changed = asyncio.Condition()
        self._gpu = asyncio.Lock()
        self.ready = False
        """ComfyUI answered and the warm-up (if any) ran."""
        self.draining = False
        self.serving: frozenset[str] = frozenset()
        """Presets this worker's ComfyUI can run now."""
        self.separation = "unavailable: not checked yet"
        """What it can do for vocal separation: ``demucs: {file}``, ``stand-in: {label}``
        or ``unavailable: {why}`` (``SeparationActivities.capability``)."""
        self.tasks = 0
        """Activity tasks this worker holds (Temporal's used slots)."""
        self.finishing = 0
        """Held tasks whose prompt already ran (storing their outputs)."""
        self._open: dict[SessionRun, float] = {}
        """Session → until when (loop time) its next GPU task is expected on the own queue."""
        self.held: frozenset[bytes] = frozenset()
        """Task tokens of the activity attempts this worker holds, announced in its record
        so a successor of the same name can end them if this process is killed."""

    async def _update(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _notify_soon(self) -> None:
        self.loop.create_task(self._update())

    async def set_ready(self, ready: bool) -> None:
        self.ready = ready
        await self._update()

    async def set_serving(self, presets: frozenset[str]) -> None:
        self.serving = presets
        await self._update()

    @property
    def separates(self) -> bool:
        """Whether this worker can separate vocals (its Demucs model is usable)."""
        return not self.separation.startswith("unavailable")

    async def set_separation(self, capability: str) -> None:
        self.separation = capability
        await self._update()

    async def announced_changed(
        self,
        separation: str,
        held: frozenset[bytes],
        ready: bool = True,
        slots: frozenset[tuple[SessionRun, float]] = frozenset(),
    ) -> None:
        """Return once ``separation`` (a model that failed to load), ``held``, ``ready`` (its
        ComfyUI answers) or the ``slot_marks`` differ from what the worker record says."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: (
                    self.separation != separation
                    or self.held != held
                    or self.ready != ready
                    or self.slot_marks != slots
                )
            )

    async def drain(self) -> None:
        """Stop every queue from polling; tasks already held run on."""
        self.draining = True
        await self._update()

    def _unexpired(self) -> dict[SessionRun, float]:
        now = self.loop.time()
        self._open = {session: until for session, until in self._open.items() if until > now}
        return self._open

    @property
    def slots(self) -> dict[SessionRun, float]:
        """Session → seconds from now until its slot expires, for the sessions holding one."""
        now = self.loop.time()
        return {session: until - now for session, until in self._unexpired().items()}

    @property
    def slot_marks(self) -> frozenset[tuple[SessionRun, float]]:
        """The slots held now, each with its expiry in loop time (changes with every slot
        taken, renewed, expired or released)."""
        return frozenset(self._unexpired().items())

    @property
    def open_sessions(self) -> int:
        return len(self._unexpired())

    async def release(self, session: SessionRun) -> None:
        """Free ``session``'s slot at once: it ended, so no next GPU task of it comes."""
        if self._open.pop(session, None) is not None:
            await self._update()

    @property
    def lined_up(self) -> int:
        """Held tasks whose prompt has not started (the running one and finishing ones aside)."""
        return self.tasks - self.finishing - (1 if self._gpu.locked() else 0)

    def admits(self, preset: str | None, *, separation: bool = False) -> bool:
        """Whether the queue of ``preset`` (``None``: the worker's own queue) may poll now;
        ``separation``: the preset's separation queue."""
        if not self.ready or self.draining or self.lined_up > 0:
            return False
        if separation and not self.separates:
            return False
        return preset is None or (preset in self.serving and self.open_sessions < MAX_OPEN_SESSIONS)

    async def wait_admits(self, preset: str | None, *, separation: bool = False) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.admits(preset, separation=separation))

    def task_taken(self) -> None:
        self.tasks += 1

    def task_done(self) -> None:
        self.tasks -= 1
        self._notify_soon()

    @contextlib.asynccontextmanager
    async def task(
        self, task_queue: str, session: SessionRun, *, more_to_come: bool, task_token: bytes
    ) -> AsyncIterator[GpuTurn]:
        """One activity task of ``session`` that came from ``task_queue``; its ``GpuTurn``
        runs the prompt.

        A task of this worker's own queue waits for the GPU; one from a preset queue is
        refused with ``WorkerBusy`` if another task is lined up already, as another worker
        can start it sooner. ``more_to_come``: the session has further GPU tasks, which
        will come to this worker's own queue if this one succeeds (it holds a slot until
        then). ``task_token``: the attempt's, held in ``held`` while it runs.
        """
        if task_queue != self.worker_task_queue and self.lined_up > 1:
            raise WorkerBusy("this worker has a task lined up already; try another worker")
        turn = GpuTurn(self)
        succeeded = False
        self.held |= {task_token}
        await self._update()
        try:
            yield turn
            succeeded = True
        finally:
            self.held -= {task_token}
            if succeeded and more_to_come:
                self._open[session] = self.loop.time() + self.keep_open_s
                self.loop.call_later(self.keep_open_s, self._notify_soon)
            else:
                self._open.pop(session, None)
            if turn.ran:
                self.finishing -= 1
            await self._update()


class GpuTurn:
    """A task's one use of the GPU."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.ran = False

    @contextlib.asynccontextmanager
    async def gpu(self) -> AsyncIterator[None]:
        """Hold the GPU (wait for it); afterwards the worker may take its next task."""
        admission = self.admission
        async with admission._gpu:
            await admission._update()  # a lined-up task now runs: the next may be fetched
            yield
        self.ran = True
        admission.finishing += 1
        await admission._update()


class QueueSlots(CustomSlotSupplier):
    """The activity slot supplier of one task queue: one poll at a time, when admitted."""

    def __init__(
        self, admission: Admission, preset: str | None, *, separation: bool = False
    ) -> None:
        self.admission = admission
        self.preset = preset
        """The preset whose queue this is; ``None`` for the worker's own queue."""
        self.separation = separation
        """Whether it is the preset's separation queue."""
        self._polled = asyncio.Event()
        """Set while no reservation of this queue waits for a task."""
        self._polled.set()

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        while True:
            await self._polled.wait()
            await self.admission.wait_admits(self.preset, separation=self.separation)
            if self._polled.is_set() and self.admission.admits(
                self.preset, separation=self.separation
            ):
                self._polled.clear()
                return SlotPermit()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        # Eager activity dispatch hands tasks to the workflow's own worker: never a GPU one.
        return None

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        self.admission.loop.call_soon_threadsafe(self._used)

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        self.admission.loop.call_soon_threadsafe(self._released, ctx.slot_info is not None)

    def _used(self) -> None:
        self.admission.task_taken()
        self._polled.set()

    def _released(self, used: bool) -> None:
        if used:
            self.admission.task_done()
        else:
            self._polled.set()
