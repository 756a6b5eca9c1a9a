"""Faults queued for the next prompts, so retries, recovery and the quality gate are tested
for real.

``POST /sim/faults {"faults": [{"kind": "oom", "step": 2}, ...]}`` queues faults in order;
each prompt that starts executing takes the next one.

Node faults fire in the first node that matches ``node_type`` (any node if unset) when it
reaches sampling step ``step`` (default 1); step 0 fires as the node starts, before it does
any work. They take ``kind``, ``step``, ``node_type``, ``exception_type``, ``message`` (and a
``silence`` its ``seconds``). Kinds:

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

Defects (``DEFECTS``) let the prompt succeed but spoil the frames its ``VAEDecode``
(``DEFECT_NODE``; every one in the graph) decodes, so the saved video (``SaveVideo``,
``VHS_VideoCombine``) and the hand-off PNGs (``SaveImage``) are defective alike, as a bad
render on a real ComfyUI is. Frame counts, fps, frame codes (where a frame still shows one)
and audio stay as they would be; only pixels change (``render.video_frames``). ``frame``
counts decoded frames from 0 (for every kind the sim renders, the saved video's frames).
Kinds:

- ``black``: every frame from ``frame`` on (default 0: all of them) is RGB (0, 0, 0).
- ``freeze``: every frame from ``frame`` on (default ``count // 2``, the middle) repeats
  frame ``frame`` exactly, frame code included.
- ``tint``: ``TINT_RGB`` is added to every pixel of every frame (clipped to 0..255): a red
  cast that moves BT.709 chroma by about -35 (U) and +31 (V) of 255 on unclipped pixels.
- ``jump``: the frames are rendered from the conditioning picture inverted (255 - value),
  so the first frame does not continue the start image or previous frames; frame codes still
  continue theirs.

Only ``black`` and ``freeze`` take ``frame`` (an integer >= 0); a defect takes no other field.
A ``frame`` past the last decoded frame leaves the video as it is.

``none`` takes no field: its prompt runs as if nothing was queued, so
``[{"kind": "none"}, {"kind": "black"}]`` leaves the next prompt alone and blackens the one
after. A fault whose node, step or frame never comes is spent with its prompt.
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
    BLACK = "black"
    FREEZE = "freeze"
    TINT = "tint"
    JUMP = "jump"
    NONE = "none"


DEFECTS = frozenset({FaultKind.BLACK, FaultKind.FREEZE, FaultKind.TINT, FaultKind.JUMP})
"""Kinds whose prompt succeeds with spoiled frames."""
NODE_FAULTS = frozenset(FaultKind) - DEFECTS - {FaultKind.NONE}
"""Kinds that go off in a node at a step."""
DEFECT_NODE = "VAEDecode"
"""The node whose decoded frames a defect spoils."""
TINT_RGB = (64, 0, -64)
"""What ``tint`` adds to R, G and B (of 255). On BT.709 tv-range chroma (``Cb``, ``Cr``
scaled by 224/255) that is -0.5·64·0.878 - 0.1146·64·0.878 ≈ -35 on U and
(0.5 + 0.0458)·64·0.878 ≈ +31 on V, far beyond the frame-to-frame change of a render."""

_NODE_FIELDS = ("kind", "step", "node_type", "exception_type", "message")
_FIELDS: dict[FaultKind, tuple[str, ...]] = {
    **{kind: _NODE_FIELDS for kind in NODE_FAULTS},
    FaultKind.SILENCE: (*_NODE_FIELDS, "seconds"),
    FaultKind.BLACK: ("kind", "frame"),
    FaultKind.FREEZE: ("kind", "frame"),
    FaultKind.TINT: ("kind",),
    FaultKind.JUMP: ("kind",),
    FaultKind.NONE: ("kind",),
}
"""The fields each kind takes."""


def _count(raw: dict[str, Any], name: str, default: int | None) -> int | None:
    value = raw.get(name, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"fault {name} must be an integer >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    step: int | None = 1
    """The sampling step a node fault goes off at (``None`` for the other kinds)."""
    node_type: str | None = None
    exception_type: str | None = None
    message: str | None = None
    seconds: float | None = None
    """How long a ``silence`` lasts, s."""
    frame: int | None = None
    """The first decoded frame a ``black`` or ``freeze`` spoils (``None``: its default)."""

    @staticmethod
    def parse(raw: Any) -> Fault:
        """A fault from its JSON form; ``ValueError`` saying what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError(f"a fault must be an object, got {raw!r}")
        try:
            kind = FaultKind(str(raw.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            got = raw.get("kind")
            raise ValueError(f"fault kind must be one of {kinds}, got {got!r}") from None
        allowed = _FIELDS[kind]
        unknown = raw.keys() - set(allowed)
        if unknown:
            raise ValueError(
                f"unknown fault fields for {kind.value}: {', '.join(sorted(unknown))} "
                f"({kind.value} takes {', '.join(allowed)})"
            )
        if kind is FaultKind.SILENCE and "seconds" not in raw:
            raise ValueError("fault seconds is required for a silence")
        if kind not in NODE_FAULTS:
            return Fault(kind, step=None, frame=_count(raw, "frame", None))
        texts = {name: raw.get(name) for name in ("node_type", "exception_type", "message")}
        for name, value in texts.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"fault {name} must be a string, got {value!r}")
        seconds = raw.get("seconds")
        if seconds is not None and (
            not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0
        ):
            raise ValueError(f"fault seconds must be a number >= 0, got {seconds!r}")
        return Fault(
            kind,
            _count(raw, "step", 1),
            texts["node_type"],
            texts["exception_type"],
            texts["message"],
            None if seconds is None else float(seconds),
        )

    def fires(self, class_type: str, step: int) -> bool:
        """Whether a node fault goes off in a ``class_type`` node that has reached ``step``."""
        return (
            self.kind in NODE_FAULTS
            and self.step is not None
            and (self.node_type is None or self.node_type == class_type)
            and step >= self.step
        )

    def spoiled_from(self, count: int) -> int:
        """The first of ``count`` decoded frames this defect spoils (``count`` or more:
        none): ``frame``, else the middle for a ``freeze`` and 0 for the others."""
        if self.frame is not None:
            return self.frame
        return count // 2 if self.kind is FaultKind.FREEZE else 0

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
