from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import ffmpeg
import pytest
from PIL import Image

from pipeline.domain.errors import InternalError, MediaError
from pipeline.media.probe import probe, probe_intermediate

FRAMES = 37


# Every test here encodes media and runs ffprobe.
pytestmark = pytest.mark.slow


def _video(path: Path, *, audio_s: float | None = 2.3) -> Path:
    """``FRAMES`` frames of 128x96 test pattern at 16 fps, with a 48 kHz tone if asked."""
    picture = ffmpeg.input(f"testsrc2=size=128x96:rate=16:duration={FRAMES / 16}", f="lavfi")
    streams = [picture.video]
    if audio_s is not None:
        streams.append(ffmpeg.input(f"sine=frequency=440:duration={audio_s}", f="lavfi").audio)
    ffmpeg.output(
        *streams, str(path), vcodec="libx264", pix_fmt="yuv420p", ar=48000
    ).overwrite_output().run(quiet=True)
    return path


def _tone(path: Path, seconds: float, rate: int, **options: object) -> Path:
    tone = ffmpeg.input(f"sine=frequency=440:duration={seconds}", f="lavfi").audio
    tone.output(str(path), ar=rate, **options).overwrite_output().run(quiet=True)
    return path


def test_video_with_audio_is_described(tmp_path: Path) -> None:
    info = probe(_video(tmp_path / "clip.mp4"))

    assert info.has_video
    assert (info.width, info.height, info.fps, info.frame_count) == (128, 96, Fraction(16), 37)
    assert info.has_audio
    assert info.audio_sample_rate == 48000
    assert info.audio_duration_s == pytest.approx(2.3, abs=0.05)
    assert info.duration_s == pytest.approx(2.3, abs=0.05)


def test_frame_count_is_counted_when_the_container_does_not_say(tmp_path: Path) -> None:
    # Matroska headers carry no frame count, so only decoding can give one.
    info = probe(_video(tmp_path / "clip.mkv", audio_s=None))

    assert info.frame_count == FRAMES
    assert not info.has_audio
    assert info.audio_duration_s is None
    assert info.duration_s == pytest.approx(FRAMES / 16, abs=0.07)


def test_audio_only_file_has_no_video_fields(tmp_path: Path) -> None:
    info = probe(_tone(tmp_path / "voice.wav", 1.5, 22050))

    assert not info.has_video
    assert (info.width, info.height, info.fps, info.frame_count) == (None, None, None, None)
    assert info.has_audio
    assert info.audio_sample_rate == 22050
    assert info.audio_duration_s == pytest.approx(1.5)
    assert info.duration_s == pytest.approx(1.5)


def test_cover_art_in_an_audio_file_is_not_video(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(cover)
    tone = ffmpeg.input("sine=frequency=440:duration=1", f="lavfi").audio
    art = ffmpeg.input(str(cover)).video
    song = tmp_path / "song.mp3"
    ffmpeg.output(
        tone, art, str(song), acodec="libmp3lame", vcodec="png", **{"disposition:v": "attached_pic"}
    ).overwrite_output().run(quiet=True)

    info = probe(song)

    assert not info.has_video
    assert info.frame_count is None
    assert info.has_audio


def test_text_file_is_refused_with_what_it_looks_like(tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_text("definitely not a video\n" * 20)

    with pytest.raises(MediaError) as caught:
        probe(src)

    message = caught.value.message
    assert message.startswith("clip.mp4 is not a video or audio file ffmpeg can read")
    assert "(it looks like a text file)" in message
    assert str(tmp_path) not in message


def test_truncated_video_is_refused(tmp_path: Path) -> None:
    whole = _video(tmp_path / "whole.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    with pytest.raises(MediaError, match=r"cut\.mp4 is not a video or audio file"):
        probe(cut)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "empty.wav"
    src.touch()

    with pytest.raises(MediaError, match=r"empty\.wav is empty"):
        probe(src)


def test_missing_file_is_our_error_not_the_users(tmp_path: Path) -> None:
    with pytest.raises(InternalError, match="no such file"):
        probe(tmp_path / "gone.mp4")


def test_unreadable_intermediate_is_an_internal_error(tmp_path: Path) -> None:
    src = tmp_path / "segment_000.mp4"
    src.write_bytes(b"\x00" * 512)

    with pytest.raises(InternalError, match="intermediate"):
        probe_intermediate(src)


def test_counting_packets_agrees_with_decoding_for_h264_mp4(tmp_path: Path) -> None:
    video = _video(tmp_path / "clip.mp4", audio_s=None)
    decoded = probe(video).frame_count
    assert decoded is not None
    assert decoded > 0
    assert probe(video, decode=False).frame_count == decoded
