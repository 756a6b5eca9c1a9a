from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import ffmpeg
import pytest
from PIL import Image

from pipeline.domain.errors import InternalError
from pipeline.media.probe import probe
from pipeline.media.stitch import StitchSegment, build_stitch_command, stitch
from pipeline.standins import framecode

FPS = 16
SIZE = (128, 96)
SEGMENT = 33
"""A Wan-style 4·n + 1 segment, kept short."""

ClipMaker = Callable[[int, int], Path]


def _encode(path: Path, frames: list[Image.Image], size: tuple[int, int] = SIZE) -> Path:
    source = ffmpeg.input(
        "pipe:", format="rawvideo", pix_fmt="rgb24", s="{}x{}".format(*size), framerate=FPS
    )
    source.output(str(path), vcodec="libx264", pix_fmt="yuv420p").overwrite_output().run(
        input=b"".join(frame.tobytes() for frame in frames), quiet=True
    )
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> ClipMaker:
    """Makes (once per module) a segment whose frames carry ``first`` .. ``first+count-1``."""
    folder = tmp_path_factory.mktemp("segments")

    def make(first: int, count: int) -> Path:
        path = folder / f"segment_{first:03d}_{count}.mp4"
        if path.exists():
            return path
        frames = [
            framecode.stamp(Image.new("RGB", SIZE, (n * 37 % 256, 90, 140)), n)
            for n in range(first, first + count)
        ]
        return _encode(path, frames)

    return make


def _numbers(video: Path) -> list[int | None]:
    raw, _ = (
        ffmpeg.input(str(video))
        .output("pipe:", format="rawvideo", pix_fmt="rgb24")
        .run(capture_stdout=True, quiet=True)
    )
    frame_bytes = SIZE[0] * SIZE[1] * 3
    return [
        framecode.read(Image.frombytes("RGB", SIZE, raw[i : i + frame_bytes]))
        for i in range(0, len(raw), frame_bytes)
    ]


def _loudness(video: Path, start_s: float, end_s: float) -> float:
    """RMS of the mono mix between two times, 0..1."""
    raw, _ = (
        ffmpeg.input(str(video))
        .audio.output("pipe:", format="s16le", ac=1, ar=8000)
        .run(capture_stdout=True, quiet=True)
    )
    samples = array("h", raw)[int(start_s * 8000) : int(end_s * 8000)]
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


def _audio(path: Path, expression: str, seconds: float) -> Path:
    source = ffmpeg.input(f"aevalsrc={expression}:s=48000:d={seconds}", f="lavfi")
    source.output(str(path)).overwrite_output().run(quiet=True)
    return path


@pytest.mark.slow  # encodes clips with ffmpeg
@pytest.mark.parametrize(
    "layout",
    [
        [(0, 0), (32, 1)],
        [(0, 0), (29, 4)],
        [(0, 0), (32, 1), (64, 1)],
    ],
    ids=["overlap-1", "overlap-4", "three-segments"],
)
def test_overlaps_are_dropped_exactly_once(
    tmp_path: Path, clip: ClipMaker, layout: list[tuple[int, int]]
) -> None:
    segments = [StitchSegment(clip(first, SEGMENT), drop) for first, drop in layout]
    total = sum(SEGMENT - drop for _, drop in layout)
    out = tmp_path / "combined.mp4"

    stitch(segments, out, fps=FPS, total_frames=total)

    assert _numbers(out) == list(range(total))
    info = probe(out)
    assert (info.frame_count, info.fps, info.has_audio) == (total, Fraction(FPS), False)
    assert (info.width, info.height) == SIZE


@pytest.mark.slow  # encodes clips with ffmpeg
def test_frames_beyond_the_plan_are_cut(tmp_path: Path, clip: ClipMaker) -> None:
    segments = [StitchSegment(clip(0, SEGMENT), 0), StitchSegment(clip(32, SEGMENT), 1)]
    out = tmp_path / "combined.mp4"

    stitch(segments, out, fps=FPS, total_frames=50)

    assert _numbers(out) == list(range(50))


@pytest.mark.slow  # encodes clips with ffmpeg
def test_audio_is_cropped_from_its_start_and_matches_the_video(
    tmp_path: Path, clip: ClipMaker
) -> None:
    # Silent for 1.5 s, then a tone: cropping at 1.5 s must start the result loud.
    audio = _audio(tmp_path / "voice.wav", "'if(gte(t,1.5),0.5*sin(2*PI*440*t),0)'", 8)
    segments = [StitchSegment(clip(0, SEGMENT), 0), StitchSegment(clip(32, SEGMENT), 1)]
    out = tmp_path / "combined.mp4"
    total = 2 * SEGMENT - 1

    stitch(segments, out, fps=FPS, total_frames=total, audio=audio, audio_start_s=1.5)

    info = probe(out)
    assert info.frame_count == total
    assert info.audio_duration_s is not None
    assert abs(total / FPS - info.audio_duration_s) <= 1 / FPS
    assert _loudness(out, 0.05, 0.3) > 0.2
    assert _numbers(out) == list(range(total))


@pytest.mark.slow  # encodes clips with ffmpeg
def test_short_audio_is_padded_with_silence_to_the_video_length(
    tmp_path: Path, clip: ClipMaker
) -> None:
    audio = _audio(tmp_path / "short.wav", "'0.5*sin(2*PI*440*t)'", 1.0)
    out = tmp_path / "combined.mp4"

    stitch([StitchSegment(clip(0, SEGMENT), 0)], out, fps=FPS, total_frames=SEGMENT, audio=audio)

    info = probe(out)
    assert info.frame_count == SEGMENT
    assert info.audio_duration_s is not None
    assert abs(SEGMENT / FPS - info.audio_duration_s) <= 1 / FPS
    assert _loudness(out, 0.2, 0.8) > 0.2
    assert _loudness(out, 1.3, 1.9) < 0.01


@pytest.mark.slow  # encodes clips with ffmpeg
def test_segments_shorter_than_the_plan_are_refused(tmp_path: Path, clip: ClipMaker) -> None:
    segments = [StitchSegment(clip(0, SEGMENT), 0), StitchSegment(clip(32, SEGMENT), 1)]
    out = tmp_path / "combined.mp4"

    with pytest.raises(InternalError, match="plan and the segments disagree"):
        stitch(segments, out, fps=FPS, total_frames=2 * SEGMENT)

    assert not out.exists()


@pytest.mark.slow  # encodes clips with ffmpeg
def test_overlap_as_long_as_the_segment_is_refused(tmp_path: Path, clip: ClipMaker) -> None:
    segments = [StitchSegment(clip(0, 9), 0), StitchSegment(clip(8, 9), 9)]

    with pytest.raises(InternalError, match="9 are to be dropped"):
        stitch(segments, tmp_path / "combined.mp4", fps=FPS, total_frames=9)


@pytest.mark.slow  # encodes clips with ffmpeg
def test_ffmpeg_failure_is_an_internal_error_with_its_stderr(
    tmp_path: Path, clip: ClipMaker
) -> None:
    # concat refuses inputs of different sizes: a stand-in for any broken intermediate.
    other_size = (160, 96)
    odd = _encode(tmp_path / "odd.mp4", [Image.new("RGB", other_size)] * 9, other_size)
    segments = [StitchSegment(clip(0, 9), 0), StitchSegment(odd, 1)]
    out = tmp_path / "combined.mp4"

    with pytest.raises(InternalError, match="ffmpeg failed to stitch") as caught:
        stitch(segments, out, fps=FPS, total_frames=16)

    assert "concat" in str(caught.value.detail["stderr"]).lower()
    assert list(tmp_path.glob("*combined*")) == []


def test_command_is_one_encode_with_the_house_settings() -> None:
    segments = [StitchSegment(Path("a.mp4"), 0), StitchSegment(Path("b.mp4"), 4)]

    command = build_stitch_command(
        segments, Path("out.mp4"), fps=16, total_frames=61,
        audio=Path("voice.wav"), audio_start_s=2.5,
    )  # fmt: skip

    assert command[0] == "ffmpeg"
    assert command.count("-filter_complex") == 1
    assert command[-1] == "out.mp4"
    graph = command[command.index("-filter_complex") + 1]
    for part in (
        "[0:v]trim=start_frame=0", "[1:v]trim=start_frame=4", "setpts=PTS-STARTPTS",
        "concat=a=0:n=2:v=1", "trim=end_frame=61", "start=2.5", "duration=3.8125",
    ):  # fmt: skip
        assert part in graph, part

    def option(name: str) -> str:
        return command[command.index(name) + 1]

    assert option("-vcodec") == "libx264"
    assert option("-crf") == "19"
    assert option("-pix_fmt") == "yuv420p"
    assert option("-r") == "16"
    assert option("-movflags") == "+faststart"
    assert option("-acodec") == "aac"
    assert option("-b:a") == "128k"


def test_command_without_audio_has_no_audio_encoder() -> None:
    command = build_stitch_command(
        [StitchSegment(Path("a.mp4"), 0)], Path("out.mp4"), fps=16, total_frames=33
    )

    assert "-acodec" not in command
    assert command.count("-i") == 1
