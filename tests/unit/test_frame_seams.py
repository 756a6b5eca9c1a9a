"""Where segments join in the stitched video, per kind, against the stitcher's own rule:
segment k begins after the frames the earlier segments keep."""

from __future__ import annotations

import pytest

from pipeline.domain.frames.plan import plan_i2v, plan_infinitetalk, plan_s2v
from pipeline.domain.frames.seams import seams


def test_i2v_extensions_join_after_each_80_new_frames() -> None:
    plan = plan_i2v(extensions=3, fps=16, width=832, height=480)

    found = seams(plan)

    assert [(s.last_before, s.first_after) for s in found] == [(80, 81), (160, 161), (240, 241)]
    assert [(s.segment_before, s.segment_after) for s in found] == [(0, 1), (1, 2), (2, 3)]
    assert found[0].time_s(plan.fps) == pytest.approx(81 / 16)


def test_infinitetalk_windows_join_where_each_drops_its_nine_motion_frames() -> None:
    plan = plan_infinitetalk(7.0, fps=25, width=832, height=480)
    assert len(plan.segments) == 3

    found = seams(plan)

    # 81 frames, then 72 new frames per window: 81 + 72 = 153.
    assert [(s.number, s.last_before, s.first_after) for s in found] == [
        (1, 80, 81),
        (2, 152, 153),
    ]
    assert all(s.first_after < plan.final_frames for s in found)


def test_s2v_is_one_segment_and_has_no_seam() -> None:
    plan = plan_s2v(9.0, width=832, height=480)
    assert plan.windows is not None
    assert plan.windows.count > 1

    assert seams(plan) == ()


def test_long_s2v_has_a_seam_after_each_segment_of_three_chunks() -> None:
    plan = plan_s2v(40.0, width=832, height=480)  # 9 chunks: 237 + 240 + 240 frames

    found = [(s.number, s.last_before, s.first_after) for s in seams(plan)]

    assert found == [(1, 236, 237), (2, 476, 477)]


def test_a_single_i2v_segment_has_no_seam() -> None:
    assert seams(plan_i2v(fps=16, width=832, height=480)) == ()


def test_a_seam_the_final_trim_cuts_off_is_left_out() -> None:
    plan = plan_i2v(extensions=2, fps=16, width=832, height=480)
    trimmed = plan.model_copy(update={"output_frames": 161})

    assert [s.first_after for s in seams(trimmed)] == [81]
