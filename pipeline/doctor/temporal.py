"""Doctor checks of Temporal: namespace, search attributes, workers, reconcile schedule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client

from pipeline.config import Settings
from pipeline.doctor.check import TIMEOUT_S, Check, failed, passed
from pipeline.domain.errors import ConfigError
from pipeline.domain.manifest import Kind
from pipeline.fleet.admission import MAX_OPEN_SESSIONS
from pipeline.fleet.diagnose import fault, held_slots
from pipeline.fleet.registry import LiveWorker, WorkerRecord, live_workers
from pipeline.ingest.schedule import RECONCILE_SCHEDULE_ID
from pipeline.storage import ObjectStore
from pipeline.temporal_client import connect, connect_config
from pipeline.workflows import attributes
from workflows_comfy.presets import PRESETS

Probe = Callable[[Client, Settings], Awaitable[Check | list[Check]]]


async def temporal_checks(settings: Settings) -> list[Check]:
    try:
        config = connect_config(settings)
    except ConfigError as exc:
        return [failed("temporal", str(exc), "fix TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE")]
    address, namespace = config["target_host"], config.get("namespace", "default")
    try:
        client = await connect(settings, connect_timeout=timedelta(seconds=TIMEOUT_S))
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=TIMEOUT_S)
        )
    except ConfigError as exc:  # the server has no such namespace (or OTEL_TRACING can't)
        if "namespace" not in exc.detail:
            return [failed("temporal", exc.message, "fix the variable it names")]
        return [
            failed(
                "temporal",
                f"{address} has no namespace {namespace!r}",
                f"fix TEMPORAL_NAMESPACE (or the profile's namespace), or create it: "
                f"temporal operator namespace create --namespace {namespace}",
            )
        ]
    except Exception as exc:
        return [
            failed(
                "temporal",
                f"{address} namespace {namespace}: {exc}",
                "check TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE (or the TEMPORAL_PROFILE), "
                "TLS and API key, and that the server runs",
            )
        ]
    checks = [passed("temporal", f"{address} namespace {namespace}")]
    probes: dict[str, Probe] = {
        "search attributes": _search_attributes,
        "cpu workers": _cpu_workers,
        "gpu workers": _gpu_checks,
        "vocal separation": _separation,
        "reconcile schedule": _schedule,
    }
    for name, probe in probes.items():
        try:
            found = await probe(client, settings)
        except Exception as exc:
            # GPU workers announce themselves in the bucket: a broken bucket hides them.
            found = failed(name, f"could not check: {exc}", "fix the checks above first")
        checks.extend(found if isinstance(found, list) else [found])
    return checks


async def _search_attributes(client: Client, settings: Settings) -> Check:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = sorted(set(attributes.ALL) - set(listed.custom_attributes))
    if not missing:
        return passed("search attributes", ", ".join(attributes.ALL))
    return failed(
        "search attributes",
        f"missing {', '.join(missing)}",
        "pipeline setup temporal",
    )


async def _pollers(
    client: Client, settings: Settings, queue: str, kind: TaskQueueType.ValueType
) -> int:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=kind,
        )
    )
    return len(described.pollers)


async def _cpu_workers(client: Client, settings: Settings) -> Check:
    queue = settings.temporal_task_queue
    workflows = await _pollers(client, settings, queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    activities = await _pollers(client, settings, queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    detail = f"{workflows} workflow and {activities} activity pollers on {queue}"
    if workflows and activities:
        return passed("cpu workers", detail)
    return failed(
        "cpu workers", detail, "start 'pipeline worker cpu' with this TEMPORAL_TASK_QUEUE"
    )


async def _gpu_checks(client: Client, settings: Settings) -> list[Check]:
    """One line for the GPU workers, then one per preset: who serves it, or what each lacks."""
    prefix = settings.temporal_gpu_task_queue
    async with ObjectStore(settings) as store:
        live = await live_workers(client, store, prefix)
    if not live:
        return [
            failed(
                "gpu workers",
                f"no live GPU worker on {prefix}.*",
                "start 'pipeline worker gpu' (one per ComfyUI) with this TEMPORAL_GPU_TASK_QUEUE",
            )
        ]
    now = datetime.now(UTC)
    names = ", ".join(w.record.identity + _slots_note(w, now) for w in live)
    faults = [found for w in live if (found := fault(w)) is not None]
    detail = f"{len(live)} live: {names}"
    checks = [
        failed("gpu workers", f"{detail}; " + "; ".join(faults), "see each worker above")
        if faults
        else passed("gpu workers", detail)
    ]
    return checks + [_preset_check(name, live) for name in sorted(PRESETS)]


def _slots_note(worker: LiveWorker, now: datetime) -> str:
    """`` (session slots: 2 of 2, for a, b)`` while sessions hold slots, else ``""``."""
    sessions = held_slots(worker, now)
    if not sessions:
        return ""
    return f" (session slots: {len(sessions)} of {MAX_OPEN_SESSIONS}, for {', '.join(sessions)})"


def _preset_check(preset: str, live: list[LiveWorker]) -> Check:
    name = f"preset {preset}"
    serving = [
        w.record.identity
        for w in live
        if any(preset in presets for presets in w.record.serving.values())
    ]
    if serving:
        return passed(name, f"served by {', '.join(serving)}")
    lacks = [
        f"{w.record.identity} lacks "
        + (missing.describe() if (missing := w.record.missing.get(preset)) else "nothing listed")
        for w in live
    ]
    return failed(
        name,
        "no live worker serves it; " + "; ".join(lacks),
        "put the model files in ComfyUI/models/<folder> ('pipeline models sync') or install "
        "the node pack, on at least one GPU box",
    )


async def _separation(client: Client, settings: Settings) -> Check:
    """What the live GPU workers announce they can do for ``separate_vocals``."""
    try:
        async with ObjectStore(settings) as store:
            workers = await live_workers(client, store, settings.temporal_gpu_task_queue)
    except Exception as exc:  # the bucket is checked (and its fix named) above
        return failed(
            "vocal separation", f"not checked: worker records unreadable ({type(exc).__name__})"
        )
    return separation_check([worker.record for worker in workers])


def separation_check(records: list[WorkerRecord]) -> Check:
    """Whether every audio preset a live worker serves is served by one that can separate.

    Separation goes only to workers that serve the session's preset and have a Demucs
    model (``gpu.{preset}.separation``), so a worker without one is fine while another
    covers its presets; an audio preset none of them covers leaves such sessions waiting.
    """
    name = "vocal separation"
    if not records:
        return passed(name, "no GPU worker has announced what it can do yet")
    audio_kinds = {Kind.S2V.value, Kind.INFINITETALK.value}

    def audio_presets(record: WorkerRecord) -> set[str]:
        served = record.serving.items()
        return {preset for kind, presets in served if kind in audio_kinds for preset in presets}

    cannot = [r for r in records if r.separation.startswith("unavailable")]
    covered = set().union(*(audio_presets(r) for r in records if r not in cannot))
    uncovered = sorted(set().union(*(audio_presets(r) for r in cannot)) - covered)
    if uncovered:
        reasons = "; ".join(
            f"{r.identity}: {r.separation.removeprefix('unavailable: ')}"
            for r in cannot
            if audio_presets(r) & set(uncovered)
        )
        return failed(
            name,
            f"no live worker that serves {', '.join(uncovered)} can separate vocals "
            f"({reasons}); sessions with separate_vocals wait",
            "point DEMUCS_MODEL_PATH of a GPU worker that serves them at a usable Demucs "
            "model ('pipeline models sync' puts htdemucs at demucs/htdemucs.yaml), "
            "or drop with separate_vocals=false",
        )
    stand_ins = [r for r in records if r.separation.startswith("stand-in")]
    notes = []
    if cannot:
        notes.append(
            f"{len(cannot)} of {len(records)} GPU workers cannot separate "
            "(separation goes to the others)"
        )
    if stand_ins:
        notes.append(
            f"{len(stand_ins)} of {len(records)} use the stand-in model "
            "(not real separation; set DEMUCS_MODEL_PATH)"
        )
    return passed(name, "; ".join(notes) or f"all {len(records)} GPU workers load a Demucs model")


async def _schedule(client: Client, settings: Settings) -> Check:
    try:
        described = await client.get_schedule_handle(RECONCILE_SCHEDULE_ID).describe()
    except Exception:
        return failed(
            "reconcile schedule",
            f"{RECONCILE_SCHEDULE_ID} does not exist",
            "run 'pipeline setup schedules'",
        )
    if described.schedule.state.paused:
        return failed(
            "reconcile schedule",
            f"{RECONCILE_SCHEDULE_ID} is paused",
            f"temporal schedule toggle --schedule-id {RECONCILE_SCHEDULE_ID} --unpause",
        )
    return passed("reconcile schedule", f"{RECONCILE_SCHEDULE_ID} active")
