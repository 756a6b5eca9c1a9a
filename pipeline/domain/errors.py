"""The pipeline's one error hierarchy.

Every failure the pipeline can name is a ``PipelineError`` subclass carrying a stable
``code`` (used as the Temporal ``ApplicationError`` type, in retry policies and in
``error.json``) and whether retrying can help::

    PipelineError
    ├── InputError               (not retryable: the drop itself is wrong)
    │   ├── ManifestError        manifest missing, not JSON, or fails the schema
    │   ├── MissingMediaError    the manifest names an object that is not there
    │   ├── UnsupportedKindError a kind this deployment cannot run yet
    │   └── MediaError           media that cannot be decoded or is out of bounds
    ├── GraphError               (not retryable: a ComfyUI graph the worker rejects)
    ├── ComfyError               (ComfyUI failures; retryable unless stated)
    │   ├── WorkerUnavailable
    │   ├── OutOfMemory
    │   ├── Interrupted
    │   ├── ExecutionFailed
    │   └── ComfyTimeout
    ├── StorageError             (retryable: the object store misbehaved)
    ├── DeploymentError          (not retryable: configuration an operator must fix)
    └── InternalError            (retryable: a bug or an unexpected state)

This module imports nothing from the project so every layer (workflows included) can use it.
"""

from __future__ import annotations

from typing import ClassVar


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    code: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, detail: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or {}


class InputError(PipelineError):
    """The user's drop is wrong; retrying the same drop cannot succeed."""

    code = "bad_input"
    retryable = False


class ManifestError(InputError):
    code = "bad_manifest"


class MissingMediaError(InputError):
    code = "missing_media"


class UnsupportedKindError(InputError):
    code = "unsupported_kind"


class MediaError(InputError):
    code = "bad_media"


class GraphError(PipelineError):
    """A graph the ComfyUI worker would reject: a bug or a worker without the model."""

    code = "invalid_graph"
    retryable = False


class ComfyError(PipelineError):
    code = "comfy_failed"


class WorkerUnavailable(ComfyError):
    code = "comfy_unavailable"


class OutOfMemory(ComfyError):
    code = "comfy_out_of_memory"


class Interrupted(ComfyError):
    code = "comfy_interrupted"


class ExecutionFailed(ComfyError):
    code = "comfy_execution_failed"


class ComfyTimeout(ComfyError):
    code = "comfy_timeout"


class StorageError(PipelineError):
    code = "storage"


class DeploymentError(PipelineError):
    """This deployment cannot do the work (a model path unset, a library missing)."""

    code = "misconfigured"
    retryable = False


class InternalError(PipelineError):
    code = "internal"


NON_RETRYABLE_CODES: frozenset[str] = frozenset(
    cls.code
    for cls in (
        InputError,
        ManifestError,
        MissingMediaError,
        UnsupportedKindError,
        MediaError,
        GraphError,
        DeploymentError,
    )
)
"""Error types that a Temporal retry policy must never retry."""
