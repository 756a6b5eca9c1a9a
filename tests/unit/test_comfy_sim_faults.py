"""comfy-sim's fault JSON (``faults.Fault.parse``) and the frames a defect spoils
(``render.video_frames``): pure, no server, no ffmpeg."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from pipeline.standins import framecode
from pipeline.standins.comfy_sim.faults import (
    DEFECTS,
    NODE_FAULTS,
    TINT_RGB,
    Fault,
    FaultKind,
    FaultQueue,
)
from pipeline.standins.comfy_sim.render import video_frames

SIZE = 128
CODE = 40
LENGTH = 9


def start() -> Image.Image:
    return framecode.stamp(Image.linear_gradient("L").resize((SIZE, SIZE)).convert("RGB"), CODE)


def frames(fault: dict[str, Any] | None) -> list[Image.Image]:
    defect = Fault.parse(fault) if fault is not None else None
    return list(video_frames(SIZE, SIZE, LENGTH, start(), defect).frames())


def codes(images: list[Image.Image]) -> list[int | None]:
    return [framecode.read(image) for image in images]


def identical(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is None


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ({"kind": "black"}, Fault(FaultKind.BLACK, step=None)),
        ({"kind": "black", "frame": 5}, Fault(FaultKind.BLACK, step=None, frame=5)),
        ({"kind": "freeze", "frame": 0}, Fault(FaultKind.FREEZE, step=None, frame=0)),
        ({"kind": "tint"}, Fault(FaultKind.TINT, step=None)),
        ({"kind": "jump"}, Fault(FaultKind.JUMP, step=None)),
        ({"kind": "none"}, Fault(FaultKind.NONE, step=None)),
        ({"kind": "oom"}, Fault(FaultKind.OOM, step=1)),
        (
            {"kind": "silence", "step": 0, "seconds": 2},
            Fault(FaultKind.SILENCE, step=0, seconds=2.0),
        ),
    ],
)
def test_a_fault_parses_to_its_kind_and_fields_and_back(raw: dict[str, Any], parsed: Fault) -> None:
    fault = Fault.parse(raw)

    assert fault == parsed
    assert Fault.parse(fault.to_json()) == fault


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "tint", "frame": 1}, "unknown fault fields for tint: frame (tint takes kind)"),
        ({"kind": "jump", "step": 0}, "unknown fault fields for jump: step (jump takes kind)"),
        (
            {"kind": "black", "step": 2, "seconds": 1},
            "unknown fault fields for black: seconds, step (black takes kind, frame)",
        ),
        (
            {"kind": "freeze", "node_type": "VAEDecode"},
            "unknown fault fields for freeze: node_type (freeze takes kind, frame)",
        ),
        ({"kind": "none", "frame": 0}, "unknown fault fields for none: frame (none takes kind)"),
        (
            {"kind": "oom", "frame": 3},
            "unknown fault fields for oom: frame "
            "(oom takes kind, step, node_type, exception_type, message)",
        ),
        (
            {"kind": "hang", "seconds": 5},
            "unknown fault fields for hang: seconds "
            "(hang takes kind, step, node_type, exception_type, message)",
        ),
        ({"kind": "black", "frame": -1}, "fault frame must be an integer >= 0, got -1"),
        ({"kind": "freeze", "frame": 2.5}, "fault frame must be an integer >= 0, got 2.5"),
        ({"kind": "freeze", "frame": True}, "fault frame must be an integer >= 0, got True"),
        ({"kind": "black", "frame": "3"}, "fault frame must be an integer >= 0, got '3'"),
        ({"kind": "silence"}, "fault seconds is required for a silence"),
        ({"kind": "error", "step": -1}, "fault step must be an integer >= 0, got -1"),
        ({"frame": 1}, "fault kind must be one of"),
        ("black", "a fault must be an object, got 'black'"),
    ],
)
def test_a_fault_is_refused_saying_what_is_wrong(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        Fault.parse(raw)


def test_the_kind_list_in_the_refusal_names_every_kind() -> None:
    with pytest.raises(ValueError, match="fault kind must be one of") as caught:
        Fault.parse({"kind": "meteor"})

    named = str(caught.value).removeprefix("fault kind must be one of ").split(", got")[0]
    assert named.split(", ") == [kind.value for kind in FaultKind]
    assert {"black", "freeze", "tint", "jump", "none"} <= set(named.split(", "))


def test_defects_and_none_never_go_off_in_a_node() -> None:
    for kind in [*DEFECTS, FaultKind.NONE]:
        fault = Fault.parse({"kind": kind.value})
        assert not fault.fires("VAEDecode", 0)
        assert not fault.fires("KSamplerAdvanced", 99)
    assert NODE_FAULTS.isdisjoint(DEFECTS)
    assert Fault.parse({"kind": "error"}).fires("KSamplerAdvanced", 1)


def test_each_prompt_takes_the_next_fault_none_included() -> None:
    queue = FaultQueue()
    queue.add([Fault.parse({"kind": "none"}), Fault.parse({"kind": "black"})])

    taken = [queue.take(), queue.take(), queue.take()]

    assert [fault.kind if fault else None for fault in taken] == [
        FaultKind.NONE,
        FaultKind.BLACK,
        None,
    ]


def test_black_blackens_every_frame_or_those_from_its_frame() -> None:
    black = Image.new("RGB", (SIZE, SIZE))

    every, from_three = frames({"kind": "black"}), frames({"kind": "black", "frame": 3})

    assert all(identical(frame, black) for frame in every)
    assert codes(from_three) == [CODE, CODE + 1, CODE + 2, *[None] * (LENGTH - 3)]
    assert all(identical(frame, black) for frame in from_three[3:])


def test_freeze_repeats_the_middle_frame_or_its_frame_to_the_end() -> None:
    normal = frames(None)

    middle, from_two = frames({"kind": "freeze"}), frames({"kind": "freeze", "frame": 2})

    assert codes(middle) == [*range(CODE, CODE + 4), *[CODE + 4] * (LENGTH - 4)]
    assert all(identical(frame, normal[4]) for frame in middle[4:])
    assert all(identical(a, b) for a, b in zip(middle[:4], normal[:4], strict=True))
    assert codes(from_two) == [CODE, CODE + 1, *[CODE + 2] * (LENGTH - 2)]


def test_a_frame_past_the_end_leaves_the_frames_as_they_are() -> None:
    normal = frames(None)

    for kind in ("black", "freeze"):
        spoiled = frames({"kind": kind, "frame": LENGTH})
        assert all(identical(a, b) for a, b in zip(spoiled, normal, strict=True))


def test_tint_adds_its_shift_to_every_channel_of_every_frame() -> None:
    normal = frames(None)

    tinted = frames({"kind": "tint"})

    for clean, cast in zip(normal, tinted, strict=True):
        # Values that would leave 0..255 clip, so the mean moves at most by the shift.
        moved = [
            after - before
            for before, after in zip(
                ImageStat.Stat(clean).mean, ImageStat.Stat(cast).mean, strict=True
            )
        ]
        for shift, change in zip(TINT_RGB, moved, strict=True):
            assert change == pytest.approx(shift, abs=abs(shift) * 0.5 + 0.01)
            assert abs(change) <= abs(shift) + 0.01
    assert codes(tinted) == codes(normal)


def test_jump_renders_from_the_inverted_start_keeping_the_frame_codes() -> None:
    normal = frames(None)

    jumped = frames({"kind": "jump"})

    assert codes(jumped) == codes(normal) == list(range(CODE, CODE + LENGTH))
    # Away from the code strip and the label, the first frame is the start turned negative.
    body = (0, SIZE // 4, SIZE, SIZE - framecode.strip_height(SIZE))
    inverted = Image.eval(normal[0].crop(body), lambda value: 255 - value)
    assert identical(jumped[0].crop(body), inverted)
    assert not identical(jumped[0].crop(body), normal[0].crop(body))
