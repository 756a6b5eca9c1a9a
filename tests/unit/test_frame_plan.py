import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.frame_plan import WAN_SEGMENT_FRAMES, is_wan_length, plan_i2v


def test_single_segment_plan_is_81_frames_at_16_fps() -> None:
    plan = plan_i2v(extensions=0, fps=16, width=832, height=480)
    assert plan.total_frames == 81
    assert plan.duration_s == pytest.approx(81 / 16)
    assert [s.drop_leading for s in plan.segments] == [0]


def test_each_extension_adds_its_frames_minus_the_overlap() -> None:
    plan = plan_i2v(extensions=2, fps=16, width=832, height=480)
    assert [s.length for s in plan.segments] == [81, 81, 81]
    assert [s.drop_leading for s in plan.segments] == [0, 1, 1]
    assert plan.total_frames == 81 + 80 + 80


@given(st.integers(0, 40), st.integers(1, 80))
def test_planned_segments_are_valid_wan_lengths_and_add_up(extensions: int, overlap: int) -> None:
    plan = plan_i2v(extensions=extensions, fps=16, width=64, height=64, overlap=overlap)
    assert all(is_wan_length(s.length) for s in plan.segments)
    assert plan.total_frames == sum(s.new_frames for s in plan.segments)
    assert plan.total_frames == WAN_SEGMENT_FRAMES + extensions * (WAN_SEGMENT_FRAMES - overlap)


@pytest.mark.parametrize(
    "kwargs", [{"extensions": -1}, {"overlap": 0}, {"overlap": 81}, {"segment_length": 80}]
)
def test_impossible_plans_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        plan_i2v(**{"extensions": 0, "fps": 16, "width": 64, "height": 64, **kwargs})
