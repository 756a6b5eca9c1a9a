"""The quality gate's measures on clips ffmpeg makes: each defect caught by its measure, and
still, slowly moving and continuous content passed, under the default thresholds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg
import pytest
from PIL import Image

from pipeline.domain.quality import Measure, QualityThresholds, SeamQuality, SegmentQuality, judge
from pipeline.media.probe import probe
from pipeline.media.quality import ANALYSIS_SCALE, Before, Measured, measure
from pipeline.standins.comfy_sim.render import encode_mp4, video_frames

pytestmark = pytest.mark.slow

FPS = 16
W, H = 320, 192
FRAMES = 49
"""A Wan-style 4·n + 1 segment of 3 s: long enough for a 1 s freeze after motion."""
DEFAULTS = QualityThresholds()

Clip = Callable[..., Path]


def _encode(stream: Any, path: Path, **options: Any) -> Path:
    stream.output(str(path), vcodec="libx264", pix_fmt="yuv420p", **options).run(
        quiet=True, overwrite_output=True
    )
    return path


def _pattern(frames: int = FRAMES, start: int = 0) -> Any:
    """testsrc2's moving pattern from its frame ``start`` on."""
    source = ffmpeg.input(f"testsrc2=s={W}x{H}:r={FPS}", f="lavfi").video
    return source.trim(start_frame=start, end_frame=start + frames).setpts("PTS-STARTPTS")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quality")


@pytest.fixture(scope="module")
def still(folder: Path) -> Path:
    """One picture, the portrait every still clip loops."""
    path = folder / "still.png"
    _pattern(1).output(str(path), vframes=1).run(quiet=True, overwrite_output=True)
    return path


def _measured(path: Path, **options: Any) -> Measured:
    arguments: dict[str, Any] = {
        "expected_frames": FRAMES,
        "fps": FPS,
        "expect_audio": False,
        "index": 1,
    }
    return measure(path, thresholds=DEFAULTS, **{**arguments, **options})


def _segment(path: Path, **options: Any) -> SegmentQuality:
    return _measured(path, **options).segment


def _measures(segment: SegmentQuality, seam: SeamQuality | None = None) -> list[Measure]:
    return [failure.measure for failure in judge(segment, seam, DEFAULTS)]


def test_moving_content_passes_with_its_figures(folder: Path) -> None:
    segment = _segment(_encode(_pattern(), folder / "moving.mp4"))

    assert segment.decodable
    assert (segment.frames, segment.width, segment.height) == (FRAMES, W, H)
    assert segment.black_frames == 0
    assert segment.frozen_runs == ()
    assert segment.motion_baseline is not None
    assert segment.motion_baseline > DEFAULTS.min_motion
    assert 16 < segment.mean_luma < 235
    assert _measures(segment) == []


def test_an_all_black_segment_fails_black(folder: Path) -> None:
    black = ffmpeg.input(f"color=black:s={W}x{H}:r={FPS}", f="lavfi").video
    segment = _segment(_encode(black, folder / "black.mp4", vframes=FRAMES))

    assert segment.black_frames == FRAMES
    assert segment.black_ratio == 1.0
    assert _measures(segment) == [Measure.BLACK]
    assert (
        judge(segment, None, DEFAULTS)[0].message == "segment 2: 49 of 49 frames black, from 0.00 s"
    )


def test_black_from_a_frame_on_is_found_from_that_frame(folder: Path) -> None:
    blacked = _pattern().drawbox(
        0, 0, "iw", "ih", color="black", thickness="fill", enable="gte(n,30)"
    )
    segment = _segment(_encode(blacked, folder / "black30.mp4"))

    assert [(run.start_frame, run.frames) for run in segment.black_runs] == [(30, FRAMES - 30)]
    assert segment.longest_black_run == FRAMES - 30
    # The black run holds still too; only the black check reports it.
    assert _measures(segment) == [Measure.BLACK]


def test_a_freeze_after_motion_fails_frozen_from_that_frame(folder: Path) -> None:
    frozen = _pattern(24).filter("tpad", stop_mode="clone", stop=FRAMES - 24)
    segment = _segment(_encode(frozen, folder / "frozen.mp4"))

    assert segment.frames == FRAMES
    # Frame 23 is the last moving one and the first of the hold.
    assert [(run.start_frame, run.frames) for run in segment.frozen_runs] == [(23, FRAMES - 23)]
    assert _measures(segment) == [Measure.FROZEN]


def test_a_still_portrait_passes(folder: Path, still: Path) -> None:
    looped = ffmpeg.input(str(still), loop=1, framerate=FPS).video
    segment = _segment(_encode(looped, folder / "portrait.mp4", vframes=FRAMES))

    # freezedetect finds it all frozen; with no motion anywhere that is content, not a defect.
    assert [(run.start_frame, run.frames) for run in segment.frozen_runs] == [(0, FRAMES)]
    assert segment.motion_baseline is None
    assert _measures(segment) == []


@pytest.mark.parametrize("noise", [3, 12], ids=["light-noise", "grain"])
def test_a_still_portrait_with_noise_passes(folder: Path, still: Path, noise: int) -> None:
    looped = ffmpeg.input(str(still), loop=1, framerate=FPS).video
    noisy = looped.filter("noise", alls=noise, allf="t")
    segment = _segment(_encode(noisy, folder / f"portrait_noise{noise}.mp4", vframes=FRAMES))

    assert _measures(segment) == []


def test_a_slow_pan_passes(folder: Path) -> None:
    wide = ffmpeg.input(f"testsrc2=s={2 * W}x{2 * H}:r={FPS}", f="lavfi").video.trim(end_frame=1)
    pan = wide.filter("tpad", stop_mode="clone", stop=FRAMES).crop("n", "n/2", W, H)
    segment = _segment(_encode(pan, folder / "pan.mp4", vframes=FRAMES))

    assert segment.motion_baseline is not None
    assert _measures(segment) == []


def test_a_frame_count_off_the_plan_fails_frames(folder: Path) -> None:
    short = _encode(_pattern(FRAMES - 4), folder / "short.mp4")
    failures = judge(_segment(short), None, DEFAULTS)

    assert [f.measure for f in failures] == [Measure.FRAMES]
    assert failures[0].message == "segment 2: 45 frames, the plan needs 49"


def _with_audio(folder: Path, name: str, seconds: float | None) -> Path:
    """The moving pattern with ``seconds`` of AAC tone, or no audio track for ``None``."""
    path = folder / name
    streams = [_pattern()]
    if seconds is not None:
        tone = f"sine=frequency=220:sample_rate=48000:duration={seconds}"
        streams.append(ffmpeg.input(tone, f="lavfi").audio)
    output = ffmpeg.output(*streams, str(path), vcodec="libx264", pix_fmt="yuv420p")
    output.run(quiet=True, overwrite_output=True)
    return path


@pytest.mark.parametrize(
    ("seconds", "failed"),
    [(FRAMES / FPS, []), (None, [Measure.AUDIO]), (FRAMES / FPS / 2, [Measure.AUDIO])],
    ids=["full", "missing", "short"],
)
def test_audio_must_fill_the_segment_within_a_frame(
    folder: Path, seconds: float | None, failed: list[Measure]
) -> None:
    name = f"audio_{'none' if seconds is None else round(seconds * 1000)}.mp4"
    segment = _segment(_with_audio(folder, name, seconds), expect_audio=True)

    assert segment.audio_present is (seconds is not None)
    assert _measures(segment) == failed


def test_audio_is_not_judged_where_the_kind_has_none(folder: Path) -> None:
    segment = _segment(_with_audio(folder, "silent_kind.mp4", None), expect_audio=False)

    assert _measures(segment) == []


def test_garbage_is_not_decodable(folder: Path) -> None:
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    segment = _segment(garbage)

    assert not segment.decodable
    assert segment.error
    assert _measures(segment) == [Measure.DECODABLE]


def test_a_truncated_file_is_not_decodable(folder: Path) -> None:
    whole = _encode(_pattern(), folder / "whole.mp4")
    cut = folder / "truncated.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    assert _measures(_segment(cut)) == [Measure.DECODABLE]


def _seam(before: Path, after: Path, overlap: int, *, tail: bool = False) -> SeamQuality:
    measured = _measured(after, before=Before(before, tail=tail), overlap_frames=overlap)
    assert measured.seam is not None, measured.seam_error
    return measured.seam


def _seam_failures(seam: SeamQuality, folder: Path) -> list[Measure]:
    passing = _segment(_encode(_pattern(), folder / "moving.mp4"))
    return _measures(passing, seam)


@pytest.mark.parametrize("overlap", [1, 9], ids=["i2v", "infinitetalk"])
def test_a_seam_inside_one_continuous_clip_passes(folder: Path, overlap: int) -> None:
    before = _encode(_pattern(), folder / "first_half.mp4")
    after = _encode(_pattern(start=FRAMES - overlap), folder / f"second_half_{overlap}.mp4")
    seam = _seam(before, after, overlap)

    assert seam.after_frame == overlap
    assert seam.neighbours == 2 * DEFAULTS.seam_neighbours
    assert seam.colour_ratio < 1.5
    assert seam.structure_ratio < 1.5
    assert _seam_failures(seam, folder) == []


def test_a_tinted_segment_after_a_seam_fails_seam_colour(folder: Path) -> None:
    before = _encode(_pattern(), folder / "first_half.mp4")
    tinted = _pattern(start=FRAMES - 1).filter("lutrgb", r="val+24", b="val-24")
    seam = _seam(before, _encode(tinted, folder / "tinted.mp4"), 1)

    assert _seam_failures(seam, folder) == [Measure.SEAM_COLOUR]


def test_unrelated_content_after_a_seam_fails_both_seam_measures(folder: Path) -> None:
    before = _encode(_pattern(), folder / "first_half.mp4")
    other = ffmpeg.input(f"mandelbrot=s={W}x{H}:r={FPS}", f="lavfi").video
    seam = _seam(before, _encode(other, folder / "mandelbrot.mp4", vframes=FRAMES), 1)

    assert _seam_failures(seam, folder) == [Measure.SEAM_COLOUR, Measure.SEAM_STRUCTURE]


def test_a_seam_between_still_portraits_passes(folder: Path, still: Path) -> None:
    looped = ffmpeg.input(str(still), loop=1, framerate=FPS).video
    portrait = _encode(looped, folder / "portrait_seam.mp4", vframes=FRAMES)
    seam = _seam(portrait, portrait, 1)

    assert seam.colour_baseline < 0.1
    assert _seam_failures(seam, folder) == []


def test_comfy_sims_clean_segments_and_their_seam_pass(folder: Path) -> None:
    """What every comfy-sim session renders: a zoom over a flat start image, frame-coded,
    the next segment continuing from the previous segment's last frame."""
    start = Image.new("RGB", (W, H), (40, 90, 200))
    first = video_frames(W, H, FRAMES, start)
    second = video_frames(W, H, FRAMES, first.frame(FRAMES - 1))
    paths = [folder / "sim_000.mp4", folder / "sim_001.mp4"]
    for frames, path in zip((first, second), paths, strict=True):
        asyncio.run(encode_mp4(frames, FPS, path))
    segments = [_segment(path) for path in paths]
    seam = _seam(paths[0], paths[1], 1)

    assert [_measures(segment) for segment in segments] == [[], []]
    assert _measures(segments[1], seam) == []


def _kept_tail(before: Path, folder: Path) -> Path:
    """The tail clip ``measure`` keeps of ``before``, as the check of it does."""
    measured = _measured(before, index=0, keep_tail=folder / f"{before.stem}_tail.mkv")
    assert measured.tail is not None
    return measured.tail


def test_the_tail_kept_is_the_segments_last_frames_at_the_analysis_size(folder: Path) -> None:
    tail = _kept_tail(_encode(_pattern(), folder / "first_half.mp4"), folder)
    info = probe(tail)

    assert info.frame_count == DEFAULTS.seam_neighbours + 1
    assert (info.width, info.height) == (W // ANALYSIS_SCALE, H // ANALYSIS_SCALE)


@pytest.mark.parametrize("overlap", [1, 9], ids=["i2v", "infinitetalk"])
def test_a_seam_read_from_the_tail_has_the_figures_read_from_the_video(
    folder: Path, overlap: int
) -> None:
    before = _encode(_pattern(), folder / "first_half.mp4")
    after = _encode(_pattern(start=FRAMES - overlap), folder / f"second_half_{overlap}.mp4")

    assert _seam(_kept_tail(before, folder), after, overlap, tail=True) == _seam(
        before, after, overlap
    )


def test_a_tinted_segment_after_a_tail_fails_seam_colour(folder: Path) -> None:
    tail = _kept_tail(_encode(_pattern(), folder / "first_half.mp4"), folder)
    tinted = _pattern(start=FRAMES - 1).filter("lutrgb", r="val+24", b="val-24")
    seam = _seam(tail, _encode(tinted, folder / "tinted.mp4"), 1, tail=True)

    assert _seam_failures(seam, folder) == [Measure.SEAM_COLOUR]


@pytest.mark.parametrize("tail", [False, True], ids=["video", "tail"])
def test_an_unreadable_segment_before_leaves_the_seam_unmeasured_and_the_figures(
    folder: Path, tail: bool
) -> None:
    garbage = folder / "garbage_before.mkv"
    garbage.write_bytes(b"not a video" * 100)
    moving = _encode(_pattern(), folder / "moving.mp4")
    measured = _measured(moving, before=Before(garbage, tail=tail), overlap_frames=1)

    assert (measured.seam, bool(measured.seam_error)) == (None, True)
    assert measured.segment == _segment(moving)


def test_an_undecodable_segment_keeps_no_tail(folder: Path) -> None:
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    kept = folder / "garbage_tail.mkv"
    measured = _measured(garbage, keep_tail=kept)

    assert (measured.segment.decodable, measured.tail, kept.exists()) == (False, None, False)
