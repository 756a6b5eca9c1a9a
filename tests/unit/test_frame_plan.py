import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain.frames.plan import (
    WAN_SEGMENT_FRAMES,
    WindowPlan,
    is_wan_length,
    plan_i2v,
    plan_infinitetalk,
    plan_s2v,
)
from pipeline.domain.frames.rules import (
    S2V_CHUNKS_PER_PROMPT,
    infinitetalk_total,
    s2v_chunk_frames,
    s2v_segment_chunks,
    s2v_total_frames,
    stitched_frames,
)


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


SEED_001_TABLE = [
    (1, 81, 3.24), (2, 153, 6.12), (3, 225, 9.00), (4, 297, 11.88), (5, 369, 14.76),
    (6, 441, 17.64), (7, 513, 20.52), (8, 585, 23.40), (9, 657, 26.28), (10, 729, 29.16),
]  # fmt: skip


@pytest.mark.parametrize(("windows", "frames", "seconds"), SEED_001_TABLE)
def test_infinitetalk_lengths_reproduce_seed_001s_table(
    windows: int, frames: int, seconds: float
) -> None:
    assert infinitetalk_total(windows) == frames
    assert frames / 25 == pytest.approx(seconds)
    plan = plan_infinitetalk(seconds, width=640, height=640)
    assert (plan.total_frames, plan.windows) == (
        frames,
        WindowPlan(
            length=81,
            overlap=9,
            count=windows,
            motion_frames=9,
            frame_offsets=tuple(72 * i for i in range(windows)),
        ),
    )
    assert plan.output_frames == frames


@pytest.mark.parametrize(("audio_s", "total", "kept"), [(7.0, 225, 175), (17.0, 441, 425)])
def test_infinitetalk_pads_seed_001s_examples_to_the_next_window_and_trims_back(
    audio_s: float, total: int, kept: int
) -> None:
    plan = plan_infinitetalk(audio_s, width=640, height=640)

    windows = (total - 81) // 72 + 1
    # One segment per window, each re-rendering the previous window's last 9 frames.
    assert [(s.length, s.drop_leading) for s in plan.segments] == [(81, 0)] + [(81, 9)] * (
        windows - 1
    )
    assert plan.continuation == "previous_segment"
    assert plan.total_frames == total == sum(s.new_frames for s in plan.segments)
    assert plan.audio_padded_s == pytest.approx(total / 25)
    assert (plan.output_frames, plan.final_frames) == (kept, kept)
    assert plan.audio_s == audio_s
    assert plan.duration_s == pytest.approx(kept / 25)
    assert any(f"{total} frames" in note for note in plan.notes)


def test_one_frame_more_than_a_window_needs_the_next_window() -> None:
    assert plan_infinitetalk(81 / 25, width=64, height=64).total_frames == 81
    assert plan_infinitetalk(81 / 25 + 0.001, width=64, height=64).total_frames == 153


def test_s2v_chunks_advance_as_wan_sound_to_video_counts() -> None:
    # length 77 → latent_t 20 → batch_frames 80; two chunks decode 40 latents = 157 frames.
    assert s2v_chunk_frames(77) == 80
    assert s2v_total_frames(77, 2) == 157
    plan = plan_s2v(7.0, width=640, height=640)

    assert plan.fps == 16
    assert plan.windows == WindowPlan(
        length=77, overlap=0, count=2, motion_frames=73, frame_offsets=(0, 80)
    )
    assert [(s.length, s.drop_leading) for s in plan.segments] == [(157, 0)]
    assert plan.output_frames == 112
    assert plan.audio_padded_s == pytest.approx(160 / 16)


@pytest.mark.parametrize(("audio_s", "chunks", "total"), [(77 / 16, 1, 77), (78 / 16, 2, 157)])
def test_s2v_adds_a_chunk_once_the_audio_outlasts_the_decoded_frames(
    audio_s: float, chunks: int, total: int
) -> None:
    plan = plan_s2v(audio_s, width=64, height=64)
    assert plan.windows is not None
    assert (plan.windows.count, plan.total_frames) == (chunks, total)


@pytest.mark.parametrize(
    "kwargs", [{"fps": 25}, {"chunk_length": 78}], ids=["fps-not-16", "length-not-4n+1"]
)
def test_s2v_plans_the_node_cannot_run_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        plan_s2v(5.0, width=64, height=64, **kwargs)


@pytest.mark.parametrize("audio_s", [0.0, -1.0])
def test_audio_plans_need_audio(audio_s: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        plan_infinitetalk(audio_s, width=64, height=64)


@pytest.mark.parametrize(
    ("duration_s", "overlap", "lengths"),
    [(2.0, 1, [33]), (5.0, 1, [81]), (7.3, 1, [81, 37]), (12.0, 15, [81, 81, 61]), (0.01, 1, [5])],
)
def test_i2v_duration_becomes_the_nearest_valid_frame_count(
    duration_s: float, overlap: int, lengths: list[int]
) -> None:
    plan = plan_i2v(fps=16, width=64, height=64, duration_s=duration_s, overlap=overlap)

    assert [s.length for s in plan.segments] == lengths
    assert plan.total_frames == stitched_frames(tuple(lengths), overlap)
    assert f"the nearest valid count is {plan.total_frames} frames" in plan.notes[0]


def test_i2v_takes_a_duration_or_extensions_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        plan_i2v(extensions=1, fps=16, width=64, height=64, duration_s=9.0)


_SECONDS = st.floats(min_value=0.01, max_value=900, allow_nan=False, allow_infinity=False)


@given(_SECONDS, st.sampled_from([16, 24, 25, 30]))
def test_infinitetalk_plans_cover_the_audio_with_the_fewest_windows(
    audio_s: float, fps: int
) -> None:
    plan = plan_infinitetalk(audio_s, fps=fps, width=64, height=64)
    needed = math.ceil(round(audio_s * fps, 6))

    assert (plan.total_frames - 81) % 72 == 0
    assert needed <= plan.total_frames < needed + 72 or plan.total_frames == 81
    assert plan.final_frames == needed <= plan.total_frames
    assert plan.audio_padded_s is not None
    assert plan.audio_padded_s * fps == pytest.approx(plan.total_frames)
    assert plan.final_frames / fps >= audio_s - 1e-6


@given(_SECONDS, st.integers(1, 30).map(lambda n: 4 * n + 1))
def test_s2v_plans_cover_the_audio_with_the_fewest_chunks(audio_s: float, length: int) -> None:
    plan = plan_s2v(audio_s, width=64, height=64, chunk_length=length)
    needed = math.ceil(round(audio_s * 16, 6))
    step = s2v_chunk_frames(length)
    assert plan.windows is not None

    assert is_wan_length(plan.total_frames)
    assert plan.total_frames == plan.windows.count * step - 3
    assert needed <= plan.total_frames
    assert plan.windows.count == 1 or plan.total_frames - step < needed
    assert plan.final_frames == needed <= plan.total_frames
    assert plan.audio_padded_s is not None
    assert plan.audio_padded_s * 16 >= plan.total_frames


def _i2v_family(segment_length: int, overlap: int, up_to: int) -> set[int]:
    """Every count of full segments then one optional shorter last one, brute force."""
    lengths = [n for n in range(5, segment_length + 1, 4)]
    totals = set(lengths)
    for full in range(1, up_to // (segment_length - overlap) + 2):
        base = stitched_frames((segment_length,) * full, overlap)
        totals.add(base)
        totals.update(base + n - overlap for n in lengths if n > overlap)
    return totals


@given(st.floats(0.05, 40), st.integers(1, 40))
def test_i2v_durations_land_on_the_nearest_count_of_the_family(
    duration_s: float, overlap: int
) -> None:
    plan = plan_i2v(fps=16, width=64, height=64, duration_s=duration_s, overlap=overlap)
    asked = duration_s * 16
    best = min(abs(total - asked) for total in _i2v_family(81, overlap, math.ceil(asked)))

    assert all(is_wan_length(s.length) and s.length > overlap for s in plan.segments[1:])
    assert is_wan_length(plan.segments[0].length)
    assert plan.total_frames == sum(s.new_frames for s in plan.segments)
    assert abs(plan.total_frames - asked) == pytest.approx(best)


TEN_MINUTES_S = 9597 / 16
"""The issue's 10-minute S2V drop: 120 chunks, 9,597 frames in one prompt before."""
ONE_PROMPT = 10**6
"""``chunks_per_segment`` large enough that every plan is the one-prompt plan of before."""


def test_a_ten_minute_s2v_plan_is_prompts_of_at_most_k_chunks_with_the_one_prompt_totals() -> None:
    plan = plan_s2v(TEN_MINUTES_S, width=832, height=480)
    whole = plan_s2v(TEN_MINUTES_S, width=832, height=480, chunks_per_segment=ONE_PROMPT)
    assert plan.windows is not None
    assert whole.windows is not None

    spans = [plan.windows.segment_chunks(s.index) for s in plan.segments]
    assert len(plan.segments) == 40
    assert max(chunks for _, chunks in spans) == S2V_CHUNKS_PER_PROMPT == 3
    # The segments take the chunks in order, each once, as the one prompt chained them.
    assert [first for first, _ in spans] == [3 * i for i in range(40)]
    assert sum(chunks for _, chunks in spans) == whole.windows.count == 120
    # Frames, audio and every chunk's place in it: the single prompt's math.
    assert sum(s.length for s in plan.segments) == plan.total_frames == whole.total_frames
    assert plan.total_frames == s2v_total_frames(77, 120) == 9597
    assert [s.drop_leading for s in plan.segments] == [0] * 40
    assert (plan.final_frames, plan.audio_s) == (whole.final_frames, whole.audio_s)
    assert plan.audio_padded_s == whole.audio_padded_s == 600.0
    assert plan.windows.frame_offsets == whole.windows.frame_offsets
    assert plan.continuation == "previous_segment"
    # One prompt held all 120 chunks and decoded 9,597 frames at once.
    assert [s.length for s in whole.segments] == [9597]


def test_s2v_that_fits_one_prompt_keeps_the_one_prompt_plan() -> None:
    audio_s = s2v_total_frames(77, S2V_CHUNKS_PER_PROMPT) / 16
    plan = plan_s2v(audio_s, width=64, height=64)

    assert plan == plan_s2v(audio_s, width=64, height=64, chunks_per_segment=ONE_PROMPT)
    assert plan.windows is not None
    assert (plan.windows.count, plan.windows.chunks_per_segment) == (3, None)
    assert plan.continuation == "last_frames"
    assert len(plan_s2v(audio_s + 1 / 16, width=64, height=64).segments) == 2


@given(_SECONDS, st.integers(1, 8))
def test_segmented_s2v_plans_add_up_to_the_one_prompt_plan(audio_s: float, per: int) -> None:
    plan = plan_s2v(audio_s, width=64, height=64, chunks_per_segment=per)
    whole = plan_s2v(audio_s, width=64, height=64, chunks_per_segment=ONE_PROMPT)
    assert plan.windows is not None
    assert whole.windows is not None

    counts = s2v_segment_chunks(whole.windows.count, per)
    assert [plan.windows.segment_chunks(s.index)[1] for s in plan.segments] == list(counts)
    assert max(counts) <= per
    assert sum(s.length for s in plan.segments) == plan.total_frames == whole.total_frames
    assert plan.audio_padded_s == whole.audio_padded_s
    assert plan.final_frames == whole.final_frames


def test_a_plan_has_no_s2v_segment_past_its_last() -> None:
    plan = plan_s2v(20.0, width=64, height=64)  # 5 chunks: 3 + 2
    assert plan.windows is not None
    assert [plan.windows.segment_chunks(i) for i in (0, 1)] == [(0, 3), (3, 2)]
    with pytest.raises(ValueError, match="segment 2 is not one of the plan's 2 segment"):
        plan.windows.segment_chunks(2)
