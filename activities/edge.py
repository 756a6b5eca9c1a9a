"""What every activity does at its edge: bind log context, turn pipeline errors into
Temporal ``ApplicationError`` s that carry the error's code and whether to retry.

The one place a missing object becomes a session's failure (``session_error``): the store
raises ``ObjectMissing`` wherever a read or copy finds no object; under ``sessions/`` (what
a session wrote or moved) that is ``InputDeleted``, not retryable. Elsewhere (an inbox drop
whose media may still arrive) it stays the retryable ``ObjectMissing``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from pipeline.domain.drop import session_id_of_workflow
from pipeline.domain.errors import InputDeleted, ObjectMissing, PipelineError
from pipeline.domain.layout import SESSIONS_PREFIX
from pipeline.logging import bind_session, get_logger

log = get_logger()

P = ParamSpec("P")
R = TypeVar("R")


def session_error(error: PipelineError) -> PipelineError:
    """``error`` as the session must see it: an ``ObjectMissing`` for a key under
    ``sessions/`` becomes ``InputDeleted`` (naming the key, not retryable), since every such
    key is written by the session before any later activity reads it and the store is
    strongly consistent; every other error is itself."""
    if (
        isinstance(error, ObjectMissing)
        and not isinstance(error, InputDeleted)
        and error.key.startswith(SESSIONS_PREFIX)
    ):
        deleted = InputDeleted(error.key, error.action)
        deleted.__cause__ = error
        return deleted
    return error


def to_application_error(error: PipelineError) -> ApplicationError:
    return ApplicationError(
        error.message, error.detail, type=error.code, non_retryable=not error.retryable
    )


def edge(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an activity body: logs carry session and workflow ids; errors carry codes."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        info = activity.info()
        workflow_id = info.workflow_id or ""
        with bind_session(
            session_id_of_workflow(workflow_id),
            workflow_id,
            activity=info.activity_type,
            attempt=info.attempt,
        ):
            try:
                return await fn(*args, **kwargs)
            except PipelineError as raised:
                error = session_error(raised)
                log.warning(
                    "activity_failed",
                    code=error.code,
                    retryable=error.retryable,
                    error=error.message,
                )
                raise to_application_error(error) from raised

    return wrapper
