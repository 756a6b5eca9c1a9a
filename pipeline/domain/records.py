"""The session's records (v1): ``sessions/{id}/result.json`` and ``error.json``. Pure, no I/O.

``result.json`` (a :class:`SessionRecord`) is written when a session succeeds and is also
the completion callback's ``data`` (``activities/notify.py``), so its fields are a public
interface; ``error.json`` (an :class:`ErrorRecord`) is written when a session fails or is
cancelled. Both list every run of the session in ``runs`` (:class:`RunRecord`), so a failed
rerun of a session that succeeded before leaves its ``result.json`` in place and adds a
failed run to it. Published as ``pipeline/schemas/result.v1.json`` and ``error.v1.json``
(``pipeline schema result|error``).

Links: ``urls`` and a run's ``combined_url`` are the URLs made when the run was recorded;
presigned ones stop working at the record's ``expires_at`` (``PRESIGN_EXPIRY_S`` later), so
what lasts is the keys (``objects``, ``combined``), from which ``pipeline status`` mints
fresh URLs at any time.

One shape each: every record is written with all its fields, a field that does not apply
being ``null`` (or ``{}``); a succeeded run has ``code``/``message`` null, a failed one
``combined``/``combined_url`` null. Timestamps are ISO 8601 with their offset, as Python's
``isoformat`` writes them (``2025-01-01T12:00:00.000000+00:00``).

Compatibility: a record from an earlier build parses (every field it may lack has a
default; ``runs`` is ``None`` before runs were listed, see :func:`runs_so_far`), and unknown
keys are kept (``extra="allow"``), so an older worker that rewrites a newer record (a failed
rerun adds a run to ``result.json``) does not drop them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
)

from pipeline.domain.cost import Cost
from pipeline.domain.provenance import ProvenanceRecord
from pipeline.domain.quality import QualityReport
from pipeline.domain.rendering import SegmentRender

Outcome = Literal["succeeded", "failed", "cancelled"]

Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
]
"""ISO 8601 with its offset, written as Python's ``isoformat`` (``…+00:00``, not ``…Z``)."""


class Record(BaseModel):
    """What the records share: frozen, unknown keys kept."""

    model_config = ConfigDict(frozen=True, extra="allow")


class RunRecord(Record):
    """One run of a session: the first, or a rerun by a reprocessing batch."""

    run: str | None = Field(
        description="The run's id (``r1``, ``r2-{batch}``…; its outputs are under "
        "``generations/{run}/``); null only for a record from before runs were listed."
    )
    status: Outcome
    workflow_id: str = Field(description="The Temporal workflow that ran it.")
    changed: dict[str, Any] = Field(
        default_factory=dict, description="The manifest fields a rerun changed (``--set``)."
    )
    combined: str | None = Field(
        default=None, description="Key of the run's combined video (a succeeded run)."
    )
    combined_url: str | None = Field(
        default=None, description="URL of the combined video when the run was recorded."
    )
    expires_at: Timestamp | None = Field(
        default=None,
        description="When ``combined_url`` stops working, if presigned (``PRESIGN_EXPIRY_S`` "
        "after the run was recorded); null when it is public or absent, or for a record from "
        "before expiries were noted. ``combined`` lasts: ``pipeline status`` mints a fresh URL.",
    )
    code: str | None = Field(default=None, description="A failed run's error code.")
    message: str | None = Field(default=None, description="A failed run's error message.")
    finished_at: Timestamp | None = Field(
        default=None, description="When it succeeded or failed; null for a cancelled run."
    )
    cost: Cost | None = Field(
        default=None,
        description="What this run used (GPU seconds per stage and GPU class, CPU seconds, "
        "bytes stored and moved) and, with prices configured, cost (pipeline.domain.cost); "
        "null for a cancelled run or one from before costs were recorded.",
    )


class SessionRecord(Record):
    """``result.json``: a session that succeeded, and what its latest succeeded run made."""

    status: Literal["succeeded"]
    session_id: str
    workflow_id: str = Field(description="The Temporal workflow of the latest succeeded run.")
    run: str = Field(description="The run these objects are of (``generations/{run}/``).")
    kind: str = Field(description="The manifest's kind: ``i2v``, ``s2v`` or ``infinitetalk``.")
    preset: str | None = Field(default=None, description="The model preset the run used.")
    drop_key: str | None = Field(default=None, description="The manifest's key in the inbox.")
    manifest: dict[str, Any] = Field(description="The manifest as run (manifest.v1.json).")
    objects: dict[str, str] = Field(description="Object name → key (inputs and outputs).")
    urls: dict[str, str] = Field(
        description="Object name → URL when the run was published: public under "
        "``R2_PUBLIC_URL`` for the names in ``public``, else presigned, working until "
        "``expires_at``. The keys in ``objects`` last; ``pipeline status`` prints fresh URLs "
        "for them."
    )
    public: list[str] = Field(
        default_factory=list,
        description="The names in ``urls`` that are public under ``R2_PUBLIC_URL`` and do not "
        "expire: only outputs ``PUBLIC_OUTPUTS`` lists (the combined video and poster by "
        "default), never an input or an intermediate file. Empty without ``R2_PUBLIC_URL`` "
        "and in a record from before it was noted.",
    )
    expires_at: Timestamp | None = Field(
        default=None,
        description="When the presigned ``urls`` (those not in ``public``) stop working "
        "(``PRESIGN_EXPIRY_S`` after they were made); null when every URL is public, or for "
        "a record from before expiries were noted.",
    )
    frames: int = Field(description="Frames of the combined video.")
    duration_s: float = Field(description="Length of the combined video, seconds.")
    timings_s: dict[str, float] = Field(description="Stage → seconds it took.")
    stand_ins: dict[str, str] = Field(
        default_factory=dict, description="Stage → the stand-in that did it (not real models)."
    )
    versions: dict[str, str] = Field(description="Component → version that made the run.")
    finished_at: Timestamp = Field(description="When the result was published.")
    quality: list[QualityReport] | None = Field(
        default=None,
        description="The quality gate's report of every segment and the seam before it, "
        "each attempt in order (the last of a segment is the one kept); null when the gate "
        "was off or the run predates it.",
    )
    renders: list[SegmentRender] = Field(
        default_factory=list,
        description="Every GPU render of the run, re-renders included, with where and how "
        "it ran (empty for runs before provenance).",
    )
    provenance: ProvenanceRecord | None = Field(
        default=None,
        description="The outputs' C2PA Content Credentials: which objects are signed, the "
        "manifest labels, the signer, development or not; null when unsigned.",
    )
    runs: list[RunRecord] | None = Field(
        default=None, description="Every run of the session, oldest first, this one included."
    )
    cost: Cost | None = Field(
        default=None,
        description="This run's usage and cost (the same as its entry in ``runs``); null "
        "before costs were recorded.",
    )
    session_cost: Cost | None = Field(
        default=None,
        description="The sum over every run in ``runs`` that has a cost: what the session "
        "has cost so far.",
    )


class ErrorRecord(Record):
    """``error.json``: a session that failed (``failed_at``, ``detail``) or was cancelled
    (``cancelled_at``, ``cancelled_by``, ``reason``, ``kept``)."""

    status: Literal["failed", "cancelled"]
    session_id: str
    workflow_id: str = Field(description="The Temporal workflow that failed or was cancelled.")
    stage: str = Field(description="The stage it failed or was cancelled at.")
    code: str = Field(
        description="The error's code (``pipeline.domain.errors``), or ``cancelled``."
    )
    message: str = Field(description="What went wrong, or who cancelled it and why.")
    cancelled_by: str | None = Field(
        default=None, description="The identity Temporal recorded for the cancel request."
    )
    reason: str | None = Field(default=None, description="Why it was cancelled, if said.")
    retryable: bool = Field(
        description="Whether running it again can help: the error class's flag "
        "(``PipelineError.retryable``); always true for a cancellation. "
        "``pipeline reprocess --retryable`` selects on it."
    )
    detail: dict[str, Any] = Field(default_factory=dict, description="The error's context.")
    kind: str | None = Field(default=None, description="The manifest's kind, if it was read.")
    preset: str | None = Field(default=None, description="The model preset, if chosen.")
    drop_key: str | None = Field(default=None, description="The manifest's key in the inbox.")
    kept: dict[str, str] = Field(
        default_factory=dict, description="Artifact name → key of what was made before."
    )
    failed_at: Timestamp | None = Field(default=None, description="When it failed.")
    cancelled_at: Timestamp | None = Field(default=None, description="When it was cancelled.")
    runs: list[RunRecord] | None = Field(
        default=None, description="Every run of the session, oldest first (a failure's)."
    )
    cost: Cost | None = Field(
        default=None,
        description="The failed run's usage (GPU time spent before it failed included) and "
        "cost; null when cancelled or recorded before costs were.",
    )


_RECORD: TypeAdapter[SessionRecord | ErrorRecord] = TypeAdapter(
    Annotated[SessionRecord | ErrorRecord, Field(discriminator="status")]
)


def parse_record(document: object) -> SessionRecord | ErrorRecord:
    """The record a stored JSON document is, told apart by ``status``.

    Raises ``pydantic.ValidationError`` when it is neither.
    """
    return _RECORD.validate_python(document)


def runs_so_far(record: SessionRecord | ErrorRecord) -> list[RunRecord]:
    """Every run a record lists; a record from before runs were listed counts as one run."""
    if record.runs is not None:
        return list(record.runs)
    run: str | None = None
    combined: str | None = None
    finished: datetime | None
    if isinstance(record, SessionRecord):
        run, combined, finished = record.run, record.objects.get("combined"), record.finished_at
    else:
        finished = record.failed_at
    return [
        RunRecord(
            run=run,
            status=record.status,
            workflow_id=record.workflow_id,
            changed={},
            combined=combined,
            finished_at=finished,
        )
    ]


SCHEMAS: dict[str, tuple[type[Record], str]] = {
    "result": (SessionRecord, "Session result v1 (result.json)"),
    "error": (ErrorRecord, "Session error v1 (error.json)"),
}


def json_schema(document: Literal["result", "error"]) -> dict[str, Any]:
    """A record's published JSON Schema (``pipeline/schemas/{document}.v1.json``)."""
    model, title = SCHEMAS[document]
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://github.com/wan-pipeline/wan-pipeline/{document}.v1.json"
    schema["title"] = title
    return schema
