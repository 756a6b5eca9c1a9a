"""Faults queued for the next prompts, so retries and recovery are tested for real.

``POST /sim/faults {"faults": [{"kind": "oom", "step": 2}, ...]}`` queues faults in order;
each prompt that starts executing takes the next one. A fault fires in the first node that
matches ``node_type`` (any node if unset) when it reaches sampling step ``step``; step 0
fires as the node starts, before it does any work. Kinds:

- ``error``: the node raises (``execution_error``); ``exception_type`` and ``message``
  default to a ``RuntimeError``.
- ``oom``: the node raises ``torch.OutOfMemoryError`` as captured in the contract
  (``f2_runtime_error_contractoom``), ComfyUI's out-of-memory tips appended.
- ``drop_socket``: the prompt's client WebSocket is cut without a closing handshake; the
  prompt runs on.
- ``hang``: the node stops making progress and never finishes on its own; only
  ``POST /interrupt`` ends it (as ``execution_interrupted``).
- ``crash``: the sim process exits at once (``os._exit``), as a dying ComfyUI would.
- ``silence``: the node sends nothing for ``seconds`` (required for this kind, a number
  >= 0; no other kind takes it), then goes on normally; an interrupt during the silence
  ends it as ``execution_interrupted``. At step 0 this is ComfyUI 0.33.0's real silence:
  ``executing``, then no message for the length of a CPU text encode (57-122 s) or a model
  load from a network disk. The socket stays open and answers pings meanwhile.

A fault whose node or step never comes is spent with its prompt.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    ERROR = "error"
    OOM = "oom"
    DROP_SOCKET = "drop_socket"
    HANG = "hang"
    CRASH = "crash"
    SILENCE = "silence"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    step: int = 1
    node_type: str | None = None
    exception_type: str | None = None
    message: str | None = None
    seconds: float | None = None
    """How long a ``silence`` lasts, s."""

    @staticmethod
    def parse(raw: Any) -> Fault:
        """A fault from its JSON form; ``ValueError`` saying what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError(f"a fault must be an object, got {raw!r}")
        fields = {"kind", "step", "node_type", "exception_type", "message", "seconds"}
        unknown = raw.keys() - fields
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        try:
            kind = FaultKind(str(raw.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            got = raw.get("kind")
            raise ValueError(f"fault kind must be one of {kinds}, got {got!r}") from None
        step = raw.get("step", 1)
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"fault step must be an integer >= 0, got {step!r}")
        texts = {name: raw.get(name) for name in ("node_type", "exception_type", "message")}
        for name, value in texts.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"fault {name} must be a string, got {value!r}")
        seconds = raw.get("seconds")
        if (kind is FaultKind.SILENCE) != (seconds is not None):
            raise ValueError("fault seconds is required for a silence and taken by no other kind")
        if seconds is not None and (
            not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0
        ):
            raise ValueError(f"fault seconds must be a number >= 0, got {seconds!r}")
        return Fault(
            kind,
            step,
            texts["node_type"],
            texts["exception_type"],
            texts["message"],
            None if seconds is None else float(seconds),
        )

    def fires(self, class_type: str, step: int) -> bool:
        """Whether the fault goes off in a ``class_type`` node that has reached ``step``."""
        return (self.node_type is None or self.node_type == class_type) and step >= self.step

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class FaultQueue:
    def __init__(self) -> None:
        self._queued: deque[Fault] = deque()

    def add(self, faults: list[Fault]) -> None:
        self._queued.extend(faults)

    def take(self) -> Fault | None:
        """The fault for the prompt starting now, if any is queued."""
        return self._queued.popleft() if self._queued else None

    @property
    def pending(self) -> list[Fault]:
        return list(self._queued)
