"""``/api/jobs``: queue items and ``/history`` entries as ComfyUI 0.33.0's job dicts.

Pure functions over the queue's data, one for each in ComfyUI 0.33.0
``comfy_execution/jobs.py`` that ``server.py``'s ``get_jobs`` and ``get_job_by_id`` call. A
job is ``{"id", "status", "priority", "create_time"?, "execution_start_time"?,
"execution_end_time"?, "execution_error"?, "outputs_count", "previewable_outputs_count",
"preview_output"?, "workflow_id"?}``, a key whose value would be ``None`` left out
(``comfy_api/internal`` ``prune_dict``); times are the ms the queue and the messages carry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = (
    "pending",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
)
JOB_STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
"""``JobStatus.ALL``, in its order (the order ``/api/jobs``'s 400 lists them in)."""
HISTORY_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED})
SORT_FIELDS = ("created_at", "execution_duration")
PREVIEWABLE_MEDIA_TYPES = frozenset({"images", "video", "audio", "3d", "text"})
THREE_D_EXTENSIONS = (".obj", ".fbx", ".gltf", ".glb", ".usdz")
TEXT_EXTENSIONS = (".txt", ".md", ".json")
TEXT_PREVIEW_MAX_LENGTH = 1024
"""Characters of a text output a ``preview_output`` keeps (``TEXT_PREVIEW_MAX_LENGTH``)."""
TERMINAL = ("execution_success", "execution_error", "execution_interrupted")


def _pruned(job: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if value is not None}


def _metadata(extra_data: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(create_time, workflow_id)`` from a prompt's ``extra_data`` (``_extract_job_metadata``)."""
    workflow = extra_data.get("extra_pnginfo", {}).get("workflow", {})
    return extra_data.get("create_time"), workflow.get("id")


def queue_job(item: Sequence[Any], status: str) -> dict[str, Any]:
    """A running or pending queue item ``[number, id, prompt, extra_data, outputs]`` as a job
    of ``status`` (``normalize_queue_item``): no outputs yet."""
    create_time, workflow_id = _metadata(item[3])
    return _pruned(
        {
            "id": item[1],
            "status": status,
            "priority": item[0],
            "create_time": create_time,
            "outputs_count": 0,
            "previewable_outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )


def _output_item(item: Any) -> dict[str, Any] | None:
    """A file entry of an output list (``normalize_output_item``): a dict as it is, a string
    naming a 3D file as an output file entry, anything else ``None``."""
    if isinstance(item, dict):
        return item
    if isinstance(item, str) and item.lower().endswith(THREE_D_EXTENSIONS):
        return {"filename": item, "type": "output", "subfolder": "", "mediaType": "3d"}
    return None


def _output_lists(outputs: Mapping[str, Any]) -> Iterable[tuple[str, str, list[Any]]]:
    """``(node id, media type, items)`` for every output list; ``animated`` is a flag."""
    for node_id, node_outputs in outputs.items():
        if isinstance(node_outputs, dict):
            for media_type, items in node_outputs.items():
                if media_type != "animated" and isinstance(items, list):
                    yield node_id, media_type, items


def _previewable(media_type: str, item: Mapping[str, Any]) -> bool:
    """``is_previewable``: a previewable media type, a video/audio MIME ``format``, or a 3D or
    text file name."""
    fmt = item.get("format", "")
    filename = item.get("filename", "").lower()
    return (
        media_type in PREVIEWABLE_MEDIA_TYPES
        or bool(fmt and fmt.startswith(("video/", "audio/")))
        or filename.endswith(THREE_D_EXTENSIONS + TEXT_EXTENSIONS)
    )


def normalized_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """``/history``'s outputs as a job shows them (``normalize_outputs``): 3D file names become
    file entries, ``None`` items go; everything else as it is."""
    normalized: dict[str, Any] = {}
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            normalized[node_id] = node_outputs
            continue
        normalized[node_id] = {
            media_type: items
            if media_type == "animated" or not isinstance(items, list)
            else [_output_item(item) or item for item in items if item is not None]
            for media_type, items in node_outputs.items()
        }
    return normalized


def outputs_summary(outputs: Mapping[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """``(outputs_count, preview_output)`` (``get_outputs_summary``): every file entry counts;
    the preview is the first saved (``type`` output) visual file, else the first other visual
    one, else the first text file, else the first ``text`` string (not counted), each with its
    ``nodeId`` and ``mediaType``."""
    count = 0
    preview: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    text_file: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    for node_id, media_type, items in _output_lists(outputs):
        for raw in items:
            item = _output_item(raw)
            if item is None:
                if media_type == "text" and preview is None and text is None:
                    value = (raw[0] if raw else "") if isinstance(raw, tuple) else str(raw)
                    shown: dict[str, Any] = {"content": value[:TEXT_PREVIEW_MAX_LENGTH]}
                    if len(value) > TEXT_PREVIEW_MAX_LENGTH:
                        shown["truncated"] = True
                    text = {**shown, "nodeId": node_id, "mediaType": media_type}
                continue
            count += 1
            if preview is not None or not _previewable(media_type, item):
                continue
            enriched = {**item, "nodeId": node_id}
            enriched.setdefault("mediaType", media_type)
            if media_type == "text" or item.get("filename", "").lower().endswith(TEXT_EXTENSIONS):
                text_file = text_file or enriched
            elif item.get("type") == "output":
                preview = enriched
            else:
                fallback = fallback or enriched
    return count, preview or fallback or text_file or text


def previewable_count(outputs: Mapping[str, Any]) -> int:
    """The file entries ``_previewable`` accepts (``count_previewable_outputs``)."""
    return sum(
        1
        for _, media_type, items in _output_lists(outputs)
        for raw in items
        if (item := _output_item(raw)) is not None and _previewable(media_type, item)
    )


def history_job(
    prompt_id: str, entry: Mapping[str, Any], *, include_outputs: bool = False
) -> dict[str, Any]:
    """A ``/history`` entry as a job (``normalize_history_item``).

    ``status`` is ``completed`` for ``status_str`` success (or none), ``cancelled`` for an
    error whose messages hold ``execution_interrupted``, else ``failed``; the start and end
    times are the ``execution_start`` and terminal messages' ``timestamp``; a failed job's
    ``execution_error`` is its ``execution_error`` message's data. ``include_outputs`` (one
    job by id) adds ``outputs`` (``normalized_outputs``), ``execution_status`` (the entry's
    ``status``) and ``workflow`` ``{"prompt", "extra_data"}``.
    """
    priority, _, prompt, extra_data, _ = entry["prompt"][:5]
    create_time, workflow_id = _metadata(extra_data)
    status_info = entry.get("status") or {}
    outputs = entry.get("outputs", {})
    count, preview = outputs_summary(outputs)
    started = ended = error = None
    interrupted = False
    for message in status_info.get("messages", []):
        if not (isinstance(message, list | tuple) and len(message) >= 2):
            continue
        event, data = message[0], message[1]
        if not isinstance(data, dict):
            continue
        if event == "execution_start":
            started = data.get("timestamp")
        elif event in TERMINAL:
            ended = data.get("timestamp")
            error = data if event == "execution_error" else error
            interrupted = interrupted or event == "execution_interrupted"
    status = COMPLETED
    if status_info.get("status_str") == "error":
        status = CANCELLED if interrupted else FAILED
    job = _pruned(
        {
            "id": prompt_id,
            "status": status,
            "priority": priority,
            "create_time": create_time,
            "execution_start_time": started,
            "execution_end_time": ended,
            "execution_error": error,
            "outputs_count": count,
            "previewable_outputs_count": previewable_count(outputs),
            "preview_output": preview,
            "workflow_id": workflow_id,
        }
    )
    if include_outputs:
        job["outputs"] = normalized_outputs(outputs)
        job["execution_status"] = entry.get("status", {})
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def find_job(
    prompt_id: str,
    running: Sequence[Sequence[Any]],
    pending: Sequence[Sequence[Any]],
    history: Mapping[str, Any],
) -> dict[str, Any] | None:
    """One job by id (``get_job``): from ``/history`` first (with its outputs), then the
    running, then the pending items; ``None`` if it is nowhere."""
    if prompt_id in history:
        return history_job(prompt_id, history[prompt_id], include_outputs=True)
    for items, status in ((running, IN_PROGRESS), (pending, PENDING)):
        for item in items:
            if item[1] == prompt_id:
                return queue_job(item, status)
    return None


def _sort_key(sort_by: str, job: Mapping[str, Any]) -> Any:
    if sort_by == "execution_duration":
        start, end = job.get("execution_start_time", 0), job.get("execution_end_time", 0)
        return end - start if end and start else 0
    return job.get("create_time", 0)


def list_jobs(
    running: Sequence[Sequence[Any]],
    pending: Sequence[Sequence[Any]],
    history: Mapping[str, Any],
    *,
    statuses: Sequence[str] | None = None,
    workflow_id: str | None = None,
    sort_by: str = "created_at",
    sort_order: str = "desc",
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """``(the page of jobs, how many matched)`` (``get_all_jobs``).

    Running, then pending, then ``/history`` jobs whose status is in ``statuses`` (every one
    when ``None``) and whose ``workflow_id`` is ``workflow_id`` (when given); sorted (a stable
    sort) by ``create_time``, or by end minus start for ``execution_duration`` (0 without
    both), descending unless ``sort_order`` is ``asc``; then ``offset`` skipped and ``limit``
    kept.
    """
    wanted = JOB_STATUSES if statuses is None else statuses
    jobs = [queue_job(item, IN_PROGRESS) for item in running] if IN_PROGRESS in wanted else []
    if PENDING in wanted:
        jobs += [queue_job(item, PENDING) for item in pending]
    if HISTORY_STATUSES & set(wanted):
        for prompt_id, entry in history.items():
            job = history_job(prompt_id, entry)
            if job["status"] in wanted:
                jobs.append(job)
    if workflow_id:
        jobs = [job for job in jobs if job.get("workflow_id") == workflow_id]
    jobs.sort(key=lambda job: _sort_key(sort_by, job), reverse=sort_order == "desc")
    total = len(jobs)
    if offset > 0:
        jobs = jobs[offset:]
    if limit is not None:
        jobs = jobs[:limit]
    return jobs, total
