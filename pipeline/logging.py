"""structlog set-up: JSON in production, pretty in a terminal, secrets never printed.

Context such as ``session_id`` and ``workflow_id`` is bound with ``structlog.contextvars``
(see ``bind_session``, which every activity's edge enters) so every line it logs carries it.
Modules take their logger from ``get_logger``, typed so mypy checks every log call.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal

import structlog
from structlog.typing import FilteringBoundLogger, Processor
from temporalio import activity as temporal_activity
from temporalio import workflow as temporal_workflow

from pipeline.domain.drop import WORKFLOW_ID_PREFIX

_SECRET_MARKERS = ("secret", "password", "token", "authorization", "credential")


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the value of any key that names a secret, whatever the caller passed."""
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_MARKERS):
            event[key] = "***"
    return event


def get_logger(**initial_values: Any) -> FilteringBoundLogger:
    """The module's logger: the filtering bound logger ``configure_logging`` installs."""
    logger: FilteringBoundLogger = structlog.get_logger(**initial_values)
    return logger


def temporal_context(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Session, workflow and activity ids from the Temporal SDK's log records.

    ``temporalio.workflow.logger`` and ``temporalio.activity.logger`` attach
    ``temporal_workflow`` / ``temporal_activity`` dicts to each record; fields bound already
    (an activity's ``bind_session``) win.
    """
    record = event.get("_record")
    details: dict[str, Any] = {}
    for name in ("temporal_workflow", "temporal_activity"):
        details.update(getattr(record, name, None) or {})
    if not details:
        return event
    workflow_id = details.get("workflow_id")
    fields = {
        "workflow_id": workflow_id,
        "run_id": details.get("run_id") or details.get("workflow_run_id"),
        "workflow_type": details.get("workflow_type"),
        "activity": details.get("activity_type"),
        "activity_id": details.get("activity_id"),
        "attempt": details.get("attempt"),
    }
    if isinstance(workflow_id, str) and workflow_id.startswith(WORKFLOW_ID_PREFIX):
        fields["session_id"] = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
    for key, value in fields.items():
        if value is not None:
            event.setdefault(key, value)
    return event


def _json_default(value: object) -> object:
    """What a log line holds for a value JSON cannot: its ``__structlog__()``, else its repr.

    structlog's own fallback imports ``structlog.threadlocal`` on first use, and inside
    Temporal's workflow sandbox that import re-runs structlog and ``rich`` and fails: the line
    that reports a failed workflow task was lost to a "Logging error" traceback.
    """
    rendered = getattr(value, "__structlog__", None)
    return rendered() if callable(rendered) else repr(value)


def configure_logging(
    log_format: Literal["auto", "json", "console"] = "auto", level: str = "info"
) -> None:
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=_json_default)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route stdlib logging (temporalio, aiobotocore) through the same renderer, with the
    # ids the SDK's loggers put on the record lifted into fields of their own.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_logger_name,
                temporal_context,
                *shared[1:],
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.getLevelNamesMapping()[level.upper()], logging.INFO))
    # The ids travel as fields (temporal_context), not as a dict appended to the message.
    temporal_workflow.logger.workflow_info_on_message = False
    temporal_activity.logger.activity_info_on_message = False
    for noisy in ("botocore", "aiobotocore", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def bind_session(session_id: str, workflow_id: str, **extra: Any) -> Iterator[None]:
    """Bind session and workflow ids to every log line in this context."""
    with structlog.contextvars.bound_contextvars(
        session_id=session_id, workflow_id=workflow_id, **extra
    ):
        yield
