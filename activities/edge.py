"""What every activity does at its edge: bind log context, turn pipeline errors into
Temporal ``ApplicationError`` s that carry the error's code and whether to retry."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from pipeline.domain.drop import session_id_of_workflow
from pipeline.domain.errors import PipelineError
from pipeline.logging import bind_session, get_logger

log = get_logger()

P = ParamSpec("P")
R = TypeVar("R")


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
            except PipelineError as error:
                log.warning(
                    "activity_failed",
                    code=error.code,
                    retryable=error.retryable,
                    error=error.message,
                )
                raise to_application_error(error) from error

    return wrapper
