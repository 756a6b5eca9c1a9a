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
        structlog.processors.JSONRenderer()
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
    # Route stdlib logging (temporalio, aiobotocore) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[*shared[1:], renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.getLevelNamesMapping()[level.upper()], logging.INFO))
    for noisy in ("botocore", "aiobotocore", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def bind_session(session_id: str, workflow_id: str, **extra: Any) -> Iterator[None]:
    """Bind session and workflow ids to every log line in this context."""
    with structlog.contextvars.bound_contextvars(
        session_id=session_id, workflow_id=workflow_id, **extra
    ):
        yield
