"""The pipeline's one error hierarchy: every ``PipelineError`` subclass is defined here.

Every failure the pipeline raises on purpose is a ``PipelineError`` subclass carrying a
stable ``code`` and whether retrying can help (``retryable``). At an activity's edge
(``activities.edge``) the code becomes the Temporal ``ApplicationError`` type and
``retryable`` its ``non_retryable`` flag; ``error.json`` records both. That flag is the one
rule: Temporal stops retrying on it, the session workflow's sticky reroute reads it, and
``reprocess --retryable`` reads the recorded ``retryable``. Only a query that can name codes
alone (Temporal visibility) uses ``NON_RETRYABLE_CODES``, which is derived from the classes.
Errors of the libraries underneath (botocore, httpx, websockets) are caught where they
happen and re-raised as one of these, so nothing foreign reaches Temporal or the CLI::

    PipelineError                 (retryable unless stated)
    ├── InputError                (not retryable: the drop itself is wrong)
    │   ├── ManifestError         manifest missing, not JSON, or fails the schema
    │   │   └── UnknownPreset     a preset this deployment lacks (code ``bad_manifest``)
    │   ├── MissingMediaError     the manifest names an object that is not there
    │   ├── MediaError            media that cannot be decoded or is out of bounds
    │   │   └── SilentAudio       a speech kind's audio has nothing to hear
    │   └── NoSuchSession         an operator named a session with no such record
    ├── QualityFailed             (not retryable: a segment failed the quality gate for good)
    ├── GraphError                (not retryable: a ComfyUI graph the worker rejects)
    ├── ComfyError                (retryable: ComfyUI failed or could not be reached)
    │   ├── WorkerUnavailable
    │   ├── WorkerBusy            this worker's GPU is taken: rerouted
    │   ├── PresetUnavailable     this worker's ComfyUI can no longer run the preset: rerouted
    │   ├── OutOfMemory
    │   ├── Interrupted
    │   ├── ExecutionFailed
    │   │   └── NodeInputRejected (not retryable: a node raised ValueError on its inputs)
    │   ├── ComfyTimeout
    │   └── MessageError          a WebSocket frame or /history record of the wrong shape
    ├── SeparationElsewhere       (retryable: this worker cannot separate vocals): rerouted
    ├── WorkerRestarted           (retryable: its worker was killed and restarted): rerouted
    ├── StorageError              (retryable: the object store misbehaved or is unreachable)
    │   ├── ObjectChanged         (not retryable: not the version the operation named)
    │   ├── ObjectMissing         a read or copy named a key the bucket does not hold
    │   │   └── InputDeleted      (not retryable: a session's own object deleted under it)
    │   └── SourceError           a model file's source failed or refused the file
    ├── EventError                ingest: storage events and the queues that carry them
    │   ├── MalformedEvent        (not retryable: a body no parser understands; logged, acked)
    │   └── QueueApiError         the Cloudflare Queues API answered an error
    │       └── RateLimited       HTTP 429: again after ``retry_after_s``
    ├── DeploymentError           (not retryable: configuration an operator must fix)
    │   ├── ConfigError           an environment variable is missing or invalid
    │   ├── StartupError          a stack process exited or never became ready
    │   ├── PortInUse             a port the embedded stack needs is held by another process
    │   ├── SeparationUnavailable no Demucs model or library on this worker
    │   └── LockError             deploy/models.lock unreadable or invalid
    ├── CallbackRejected          (retryable: a completion callback's receiver failed)
    └── InternalError             (retryable: a bug or an unexpected state)

"rerouted": the failure says "not this worker" (``REROUTE_CODES``). A subclass without a
``code`` of its own is the same failure on the wire as its parent. ``tests/unit/
test_error_tree.py`` pins this tree to the classes.

Plain ``ValueError`` s remain what they are in Python: a caller breaking a function's
documented preconditions (a negative duration, a frame count that is not 4·n + 1), never a
failure of the drop or of the infrastructure.

This module imports nothing from the project so every layer (workflows included) can use it.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
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


class UnknownPreset(ManifestError):
    """The manifest names a preset this deployment does not have."""


class MissingMediaError(InputError):
    code = "missing_media"


class MediaError(InputError):
    code = "bad_media"


class SilentAudio(MediaError):
    """The audio driving an s2v / infinitetalk video is silent (its peak below
    ``pipeline.media.audio.SILENCE_PEAK_DB``) and the manifest does not allow that
    (``allow_silent_audio``): the face would not move, yet the session would "succeed"."""

    code = "silent_audio"


class NoSuchSession(InputError):
    """An operator named a session the bucket has no such record of (``pipeline rerender``
    of a session that never succeeded, or a wrong id)."""

    code = "no_such_session"


class QualityFailed(PipelineError):
    """A segment failed the quality gate (``pipeline.domain.quality``) under the ``fail``
    policy, or under ``rerender`` once its re-renders ran out: rendering it again the same
    way is not expected to pass, so it is not retried."""

    code = "quality_failed"
    retryable = False


class GraphError(PipelineError):
    """A graph the ComfyUI worker would reject: a bug or a worker without the model."""

    code = "invalid_graph"
    retryable = False


class ComfyError(PipelineError):
    code = "comfy_failed"


class WorkerUnavailable(ComfyError):
    code = "comfy_unavailable"


class WorkerBusy(ComfyError):
    """The task reached a worker whose GPU is running another one (a poll answered late)."""

    code = "gpu_busy"


class PresetUnavailable(ComfyError):
    """This worker's ComfyUI lacks a node or model the preset needs (removed since start);
    a worker that has them can run the task."""

    code = "preset_unavailable"


class SeparationElsewhere(PipelineError):
    """This worker cannot separate vocals (no usable Demucs model): a worker that polls the
    preset's separation queue can, so the task goes back there."""

    code = "separation_elsewhere"


class WorkerRestarted(PipelineError):
    """The worker running this attempt was killed and has started again (same name): its
    successor ends the attempt at once instead of leaving it to the heartbeat timeout."""

    code = "worker_restarted"


REROUTE_CODES: frozenset[str] = frozenset(
    {WorkerBusy.code, PresetUnavailable.code, SeparationElsewhere.code, WorkerRestarted.code}
)
"""Failures that say "not this worker": the workflow sends the task back to the preset's
queue at once, without spending a retry attempt. The worker stops polling the queues it
cannot serve first, so the task cannot come straight back to it."""


class OutOfMemory(ComfyError):
    code = "comfy_out_of_memory"


class Interrupted(ComfyError):
    code = "comfy_interrupted"


class ExecutionFailed(ComfyError):
    code = "comfy_execution_failed"


class NodeInputRejected(ExecutionFailed):
    """A node raised ``ValueError`` while executing: ComfyUI's nodes check their inputs that
    way (``TrimAudioDuration: Start time must be less than end time and be within the audio
    length.``, ``Not enough previous frames provided.``; ComfyUI 0.33.0 ``comfy_extras``), so
    the same graph fails the same way again. A CUDA fault is a ``RuntimeError``, not this."""

    code = "comfy_node_input_rejected"
    retryable = False


class ComfyTimeout(ComfyError):
    code = "comfy_timeout"


class MessageError(ComfyError):
    """A WebSocket frame or ``/history`` record that does not have the shape ComfyUI sends."""

    code = "comfy_bad_message"


class StorageError(PipelineError):
    """The object store failed or could not be reached (botocore's ``ClientError`` and
    ``BotoCoreError``, such as ``EndpointConnectionError``)."""

    code = "storage"


class ObjectChanged(StorageError):
    """The object at a key is not the version (ETag) an operation was made conditional on.

    Not retryable by itself: the caller decides whether a newer object means "someone
    else's upload" (leave it) or "look again" (its own retry).
    """

    code = "object_changed"
    retryable = False


class ObjectMissing(StorageError):
    """A read or copy named a key the bucket does not hold (S3's ``NoSuchKey``/404).

    Retryable by itself: the store cannot tell an object deleted from one not written yet
    (an inbox drop's media still uploading). Reads that expect an absent key say so by
    asking ``ObjectStore.head``/``get_bytes``, which answer ``None`` instead. S3 (since
    2020-12, "Amazon S3 now delivers strong read-after-write consistency") and R2 (its
    "Consistency model" docs) are strongly consistent, as is one SeaweedFS filer, so a key
    a session wrote is never missing only because it was written just before.
    """

    code = "object_missing"

    def __init__(self, key: str, action: str = "get") -> None:
        detail: dict[str, object] = {
            "key": key,
            "action": action,
            "code": "NoSuchKey",
            "answered": True,
        }
        super().__init__(self._text(key, action), detail=detail)
        self.key = key
        self.action = action

    @staticmethod
    def _text(key: str, action: str) -> str:
        return f"{action} {key!r} failed: NoSuchKey: the bucket holds no such object"


class InputDeleted(ObjectMissing):
    """A key the session itself wrote or moved (``sessions/{id}/...``: its inputs, prepared
    media, plan, segments, tails, frames) is gone when an activity needs it: something
    deleted it while the session ran (a cleanup script, a user). Waiting cannot bring it
    back, so the session fails at once, naming the key (``detail["key"]``). Raised only by
    ``activities.edge`` (``session_error``), from an ``ObjectMissing`` under ``sessions/``.
    """

    code = "input_deleted"
    retryable = False

    @staticmethod
    def _text(key: str, action: str) -> str:
        return (
            f"{key} was deleted while the session ran: the session wrote it and needs it to "
            "go on, so it cannot finish; drop the media again for a new session (and keep "
            "cleanup scripts away from the sessions/ of running sessions)"
        )


class SourceError(StorageError):
    """A model file's source (``pipeline.weights.fetch``) failed, refused the file or ended
    the transfer early.

    ``permanent``: this source will answer the same again (404, 403...): try the next one.
    """

    code = "model_source_failed"

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class EventError(PipelineError):
    """A storage event, or the queue that delivers it, misbehaved."""

    code = "event"


class MalformedEvent(EventError):
    """A body that is not an event this pipeline understands; log it and drop it."""

    code = "malformed_event"
    retryable = False


class QueueApiError(EventError):
    """The Cloudflare Queues API answered with an error envelope or status."""

    code = "queue_api"


class RateLimited(QueueApiError):
    """HTTP 429; ``retry_after_s`` is the server's ``Retry-After`` when it sent one."""

    code = "queue_rate_limited"

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message, detail={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class DeploymentError(PipelineError):
    """This deployment cannot do the work (a model path unset, a library missing)."""

    code = "misconfigured"
    retryable = False


class ConfigError(DeploymentError):
    """The environment describes a deployment that cannot work; says which variable."""

    code = "bad_config"


class StartupError(DeploymentError):
    """A child process exited or never became ready; the message carries its log tail."""

    code = "startup_failed"

    def __init__(self, name: str, reason: str, log_tail: str) -> None:
        super().__init__(f"{name} {reason}; last log lines:\n{log_tail}", detail={"name": name})
        self.name = name
        self.reason = reason
        self.log_tail = log_tail


class PortInUse(DeploymentError):
    """A port the embedded stack would listen on is held by another process."""

    code = "port_in_use"


class SeparationUnavailable(DeploymentError):
    """This worker cannot separate vocals (``pipeline.media.separation``): no model
    configured, an unusable model file, no torch."""

    code = "separation_unavailable"


class LockError(DeploymentError):
    """The models lockfile (``pipeline.weights.lock``) is missing, not JSON, or breaks its
    schema; says where."""

    code = "bad_models_lock"


class InternalError(PipelineError):
    code = "internal"


class CallbackRejected(PipelineError):
    """A completion callback's receiver failed or refused; retried with backoff, and never
    a reason to change the session's outcome."""

    code = "callback_rejected"


def _subclasses(cls: type[PipelineError]) -> Iterator[type[PipelineError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


NON_RETRYABLE_CODES: frozenset[str] = frozenset(
    cls.code for cls in _subclasses(PipelineError) if not cls.retryable
)
"""The codes of every ``retryable = False`` class, for the one reader that can only ask by
code: a Temporal visibility query (``reprocess --retryable``). Everything else reads the
flag itself (``ApplicationError.non_retryable``, ``error.json``'s ``retryable``)."""


_INPUT_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EILSEQ})
"""OS errors a user's name or bytes can cause; every other OSError is the machine's."""


@contextmanager
def refusing(error: type[InputError], what: str) -> Iterator[None]:
    """The one guard around reading a user's input (parsing, validating, probing).

    ``PipelineError`` s pass through. Anything else raised while the input is read is
    input-derived and so a refusal (``error``, not retryable) saying which input failed
    and how, by exception type only: its message could hold a worker's local paths. OS
    errors other than name and encoding errors (a full disk, a missing ``ffmpeg``) are
    the machine's, and stay retryable as an ``InternalError``.
    """
    try:
        yield
    except PipelineError:
        raise
    except OSError as exc:
        if exc.errno in _INPUT_ERRNOS:
            raise error(
                f"{what} could not be read: its name is not usable as a file name "
                f"({errno.errorcode.get(exc.errno or 0, 'OSError')})"
            ) from exc
        raise InternalError(
            f"reading {what} failed on the worker: {type(exc).__name__} {exc.strerror or ''}"
        ) from exc
    except Exception as exc:
        raise error(
            f"{what} could not be read ({type(exc).__name__}); it is malformed or too complex",
            detail={"exception": type(exc).__name__},
        ) from exc
