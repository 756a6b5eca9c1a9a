"""Search attributes the pipeline sets, so operators can filter workflows in the Temporal UI.

Sessions carry all of them, kept current as the session moves; system workflows (the
reconcile pass, reprocessing batches) carry only ``PipelineRole`` (completion callbacks
``SessionId`` as well), so the default session
list is the query ``PipelineRole = 'session'``. ``docs/operating.md`` ("Search attributes")
lists the saved views built from these.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from temporalio.common import SearchAttributeKey

SESSION_ID = SearchAttributeKey.for_keyword("SessionId")
DROP_KIND = SearchAttributeKey.for_keyword("DropKind")
DROP_PRESET = SearchAttributeKey.for_keyword("DropPreset")
DROP_KEY = SearchAttributeKey.for_keyword("DropKey")
"""The manifest's key, ``inbox/{drop}/manifest.json``."""
PIPELINE_STAGE = SearchAttributeKey.for_keyword("PipelineStage")
SESSION_STATUS = SearchAttributeKey.for_keyword("SessionStatus")
"""``running``, ``succeeded``, ``failed`` or ``cancelled``."""
ERROR_CODE = SearchAttributeKey.for_keyword("ErrorCode")
"""A failed session's error code (``bad_media``, ``comfy_timeout``…; see error.json)."""
GPU_WORKER = SearchAttributeKey.for_keyword("GpuWorker")
"""Temporal identity of the GPU worker that rendered the latest segment."""
PIPELINE_ROLE = SearchAttributeKey.for_keyword("PipelineRole")
"""``session`` for sessions started by a drop, ``rerun`` for a batch's reruns of them;
``reconcile`` and ``reprocess`` (batches) for system workflows, ``callback`` for a session's
completion callback (``pipeline.workflows.callback``, which carries ``SessionId`` too)."""

Role = Literal["session", "rerun", "reconcile", "reprocess", "callback"]
SessionStatus = Literal["running", "succeeded", "failed", "cancelled"]

ALL: dict[str, str] = {
    key.name: "Keyword"
    for key in (
        SESSION_ID,
        DROP_KIND,
        DROP_PRESET,
        DROP_KEY,
        PIPELINE_STAGE,
        SESSION_STATUS,
        ERROR_CODE,
        GPU_WORKER,
        PIPELINE_ROLE,
    )
}
"""Name → type, as ``temporal server start-dev --search-attribute`` and operators take them."""


def sessions_query(
    *,
    role: Role = "session",
    status: str | None = None,
    kind: str | None = None,
    preset: str | None = None,
    error_codes: Iterable[str] = (),
    excluded_codes: Iterable[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    key_prefix: str | None = None,
) -> str:
    """A visibility query over sessions (system workflows never match)."""
    clauses = [f"{PIPELINE_ROLE.name} = {quote(role)}"]
    for key, value in ((SESSION_STATUS, status), (DROP_KIND, kind), (DROP_PRESET, preset)):
        if value is not None:
            clauses.append(f"{key.name} = {quote(value)}")
    if status == "running":
        # A terminated or timed-out session never set its status: it still says running.
        clauses.append("ExecutionStatus = 'Running'")
    if codes := sorted(error_codes):
        clauses.append(f"{ERROR_CODE.name} IN ({', '.join(map(quote, codes))})")
    if codes := sorted(excluded_codes):
        clauses.append(f"{ERROR_CODE.name} NOT IN ({', '.join(map(quote, codes))})")
    if key_prefix is not None:
        clauses.append(f"{DROP_KEY.name} STARTS_WITH {quote(key_prefix)}")
    if since is not None:
        clauses.append(f"StartTime >= '{since.astimezone(UTC).isoformat()}'")
    if until is not None:
        clauses.append(f"StartTime < '{until.astimezone(UTC).isoformat()}'")
    return " AND ".join(clauses)


def quote(value: str) -> str:
    """A visibility-query string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
