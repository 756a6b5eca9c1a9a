from __future__ import annotations

import math
import random
import wave
from array import array
from pathlib import Path

import ffmpeg
import pytest
from PIL import Image

from pipeline.domain.errors import MediaError
from pipeline.media.audio import (
    FULL_QUALITY,
    SPEECH_16K_MONO,
    AudioTarget,
    build_audio_command,
    pad_audio,
    prepare_audio,
)

FPS = 25
TONE = "0.5*sin(2*PI*440*t)"
LATE_TONE = f"'if(gte(t,1),{TONE},0)'"
"""Silent for a second, then a tone: a crop at 1 s must start loud."""


# Every test here runs ffmpeg.
pytestmark = pytest.mark.slow


def _make(
    path: Path, expression: str, seconds: float, *, rate: int = 48_000, **output: object
) -> Path:
    layout = output.pop("channel_layout", "stereo")
    source = ffmpeg.input(f"aevalsrc={expression}:s={rate}:d={seconds}:c={layout}", f="lavfi")
    source.output(str(path), **output).overwrite_output().run(quiet=True)
    return path


@pytest.fixture(scope="module")
def tone_2s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s stereo tone at 48 kHz, made once for the tests that only read it."""
    return _make(tmp_path_factory.mktemp("sources") / "voice.wav", TONE, 2.0)


@pytest.fixture(scope="module")
def late_tone_3s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make(tmp_path_factory.mktemp("sources") / "song.wav", LATE_TONE, 3.0)


def _video(path: Path, *, with_audio: bool) -> Path:
    picture = ffmpeg.input("testsrc=size=128x96:rate=16:duration=2", f="lavfi").video
    streams = [picture]
    if with_audio:
        streams.append(ffmpeg.input(f"aevalsrc={TONE}:s=44100:d=2", f="lavfi").audio)
    ffmpeg.output(*streams, str(path), vcodec="libx264", pix_fmt="yuv420p").overwrite_output().run(
        quiet=True
    )
    return path


def _loudness(path: Path, start_s: float, end_s: float) -> float:
    """RMS of the mono mix between two times, 0..1."""
    raw, _ = (
        ffmpeg.input(str(path))
        .audio.output("pipe:", format="s16le", ac=1, ar=8000)
        .run(capture_stdout=True, quiet=True)
    )
    samples = array("h", raw)[int(start_s * 8000) : int(end_s * 8000)]
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("voice.wav", {"acodec": "pcm_s16le"}),
        ("voice.mp3", {"acodec": "libmp3lame"}),
        ("voice.flac", {"acodec": "flac"}),
        ("voice.ogg", {"acodec": "libvorbis"}),
        ("voice.opus", {"acodec": "libopus"}),
        ("voice.m4a", {"acodec": "aac"}),
        ("voice.mka", {"acodec": "libopus"}),
        ("voice.aiff", {"acodec": "pcm_s16be"}),
        ("voice.caf", {"acodec": "pcm_s16le"}),
    ],
)
def test_common_formats_become_16_khz_mono_for_the_audio_encoder(
    tmp_path: Path, name: str, options: dict[str, object]
) -> None:
    src = _make(tmp_path / name, TONE, 2.0, rate=44_100, **options)

    made = prepare_audio(src, tmp_path / "speech.wav", fps=FPS, target=SPEECH_16K_MONO)

    assert (made.sample_rate, made.channels) == (16_000, 1)
    assert made.duration_s == pytest.approx(2.0, abs=0.03)
    assert _loudness(made.path, 0.2, 1.8) > 0.2


def test_the_audio_track_of_a_video_is_used(tmp_path: Path) -> None:
    src = _video(tmp_path / "clip.mp4", with_audio=True)

    made = prepare_audio(src, tmp_path / "mix.wav", fps=FPS)

    assert made.duration_s == pytest.approx(2.0, abs=0.03)
    assert made.sample_rate == 44_100
    assert _loudness(made.path, 0.2, 1.8) > 0.2


def test_crop_keeps_exactly_the_asked_range_at_full_quality(
    tmp_path: Path, late_tone_3s: Path
) -> None:
    made = prepare_audio(late_tone_3s, tmp_path / "mix.wav", fps=FPS, start_s=1.0, end_s=2.5)

    assert made.duration_s == pytest.approx(1.5, abs=1 / 48_000)
    assert (made.sample_rate, made.channels) == (48_000, 2)
    assert _loudness(made.path, 0.0, 0.2) > 0.2


def test_crop_without_end_runs_to_the_end_of_the_file(tmp_path: Path, late_tone_3s: Path) -> None:
    made = prepare_audio(late_tone_3s, tmp_path / "mix.wav", fps=FPS, start_s=0.5)

    assert made.duration_s == pytest.approx(2.5, abs=1 / 48_000)


def test_a_44_1_khz_stereo_float_target_upmixes_a_mono_file(tmp_path: Path) -> None:
    src = _make(tmp_path / "mono.wav", TONE, 1.0, rate=22_050, channel_layout="mono")
    target = AudioTarget(44_100, 2, "pcm_f32le")

    made = prepare_audio(src, tmp_path / "stereo.wav", fps=FPS, target=target)

    assert (made.sample_rate, made.channels) == (44_100, 2)
    codec = ffmpeg.probe(str(made.path))["streams"][0]["codec_name"]
    assert codec == "pcm_f32le"


def test_loudness_normalization_lifts_quiet_speech_and_keeps_the_rate(tmp_path: Path) -> None:
    src = _make(tmp_path / "quiet.wav", "0.01*sin(2*PI*300*t)", 3.0)

    made = prepare_audio(src, tmp_path / "loud.wav", fps=FPS, target=FULL_QUALITY, loudness=True)

    assert made.sample_rate == 48_000
    assert _loudness(made.path, 1.0, 2.5) > 10 * _loudness(src, 1.0, 2.5)


def test_padding_appends_silence_to_the_exact_length(tmp_path: Path) -> None:
    src = _make(tmp_path / "vocals.wav", TONE, 1.0)

    made = pad_audio(src, tmp_path / "padded.wav", 2.5)

    assert made.duration_s == pytest.approx(2.5, abs=1 / 16_000)
    assert (made.sample_rate, made.channels) == (16_000, 1)
    assert _loudness(made.path, 0.1, 0.9) > 0.2
    assert _loudness(made.path, 1.1, 2.5) < 0.001


def test_padding_to_less_than_the_source_cuts_it(tmp_path: Path, tone_2s: Path) -> None:
    assert pad_audio(tone_2s, tmp_path / "cut.wav", 1.25).duration_s == pytest.approx(
        1.25, abs=1e-4
    )


def test_video_without_sound_is_refused(tmp_path: Path) -> None:
    src = _video(tmp_path / "silent.mp4", with_audio=False)

    with pytest.raises(MediaError, match=r"silent\.mp4 has no audio stream \(it looks like an MP4"):
        prepare_audio(src, tmp_path / "mix.wav", fps=FPS)


def test_picture_named_like_audio_is_refused_as_what_it_is(tmp_path: Path) -> None:
    src = tmp_path / "voice.wav"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(src, "PNG")

    with pytest.raises(MediaError, match=r"voice\.wav has no audio stream \(it looks like a PNG"):
        prepare_audio(src, tmp_path / "mix.wav", fps=FPS)


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "voice.mp3"
    # Seeded: about one in 300 random 4 KiB blobs sniffs as an LRC lyrics file, which is
    # refused by the next check ("has no video or audio stream"), tested below.
    src.write_bytes(random.Random(0).randbytes(4096))

    with pytest.raises(MediaError, match=r"voice\.mp3 is not a video or audio file"):
        prepare_audio(src, tmp_path / "mix.wav", fps=FPS)
    assert not (tmp_path / "mix.wav").exists()


def test_file_with_only_subtitles_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "voice.mp3"
    src.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello there\n")

    with pytest.raises(MediaError, match=r"voice\.mp3 has no video or audio stream"):
        prepare_audio(src, tmp_path / "mix.wav", fps=FPS)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "voice.m4a"
    src.touch()

    with pytest.raises(MediaError, match=r"voice\.m4a is empty"):
        prepare_audio(src, tmp_path / "mix.wav", fps=FPS)


def test_audio_stream_without_samples_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "silence.wav"
    with wave.open(str(src), "wb") as empty:
        empty.setnchannels(1)
        empty.setsampwidth(2)
        empty.setframerate(16_000)

    with pytest.raises(MediaError, match=r"silence\.wav holds no audio"):
        prepare_audio(src, tmp_path / "mix.wav", fps=FPS)


def test_audio_shorter_than_one_frame_is_refused(tmp_path: Path) -> None:
    src = _make(tmp_path / "blip.wav", TONE, 0.03)

    with pytest.raises(MediaError, match="shorter than one frame at 25 fps"):
        prepare_audio(src, tmp_path / "mix.wav", fps=FPS)


def test_crop_shorter_than_one_frame_is_refused(tmp_path: Path, tone_2s: Path) -> None:
    with pytest.raises(MediaError, match="shorter than one frame"):
        prepare_audio(tone_2s, tmp_path / "mix.wav", fps=FPS, start_s=1.0, end_s=1.02)


def test_audio_longer_than_the_limit_is_refused_unless_cropped(
    tmp_path: Path, late_tone_3s: Path
) -> None:
    with pytest.raises(MediaError, match=r"3\.0 s of audio, more than the 2 s limit"):
        prepare_audio(late_tone_3s, tmp_path / "mix.wav", fps=FPS, max_s=2.0)
    made = prepare_audio(late_tone_3s, tmp_path / "mix.wav", fps=FPS, max_s=2.0, end_s=1.5)
    assert made.duration_s == pytest.approx(1.5, abs=1e-4)


@pytest.mark.parametrize(
    ("start_s", "end_s", "message"),
    [(2.5, None, "starts at 2.5 s, but voice.wav is only 2.00 s"), (0.0, 4.0, "ends at 4 s")],
)
def test_crop_outside_the_file_is_refused(
    tmp_path: Path, tone_2s: Path, start_s: float, end_s: float | None, message: str
) -> None:
    with pytest.raises(MediaError, match=message):
        prepare_audio(tone_2s, tmp_path / "mix.wav", fps=FPS, start_s=start_s, end_s=end_s)


def test_command_crops_on_the_players_timeline_normalizes_and_converts() -> None:
    command = build_audio_command(
        Path("in.mp3"), Path("out.wav"), target=SPEECH_16K_MONO, source_rate=44_100,
        timeline=True, start_s=1.5, end_s=5.5, loudness=True,
    )  # fmt: skip

    def option(name: str) -> str:
        return command[command.index(name) + 1]

    assert command.index("-copyts") < command.index("-i")
    graph = option("-filter_complex")
    assert "aresample=async=1:first_pts=0" in graph
    assert graph.index("aresample") < graph.index("atrim=end=5.5:start=1.5")
    assert "loudnorm=i=-16.0:lra=11.0:tp=-1.5" in graph
    assert (option("-ar"), option("-ac"), option("-acodec")) == ("16000", "1", "pcm_s16le")
    assert command[-1] == "out.wav"


def test_command_keeps_the_source_rate_after_loudnorm() -> None:
    command = build_audio_command(
        Path("in.flac"), Path("out.wav"), target=FULL_QUALITY, source_rate=48_000, loudness=True
    )

    assert command[command.index("-ar") + 1] == "48000"
    assert "-ac" not in command
    assert "-copyts" not in command


CASES = Path(__file__).parents[1] / "data" / "cases"
OFFSET_FILES = ["offset_speech.mkv", "offset_speech.m4a"]
"""The same 4.76 s of speech muxed 1.95 s late (a Matroska offset, an MP4 edit list)."""


@pytest.mark.parametrize("name", OFFSET_FILES)
def test_a_crop_is_on_the_players_timeline_in_every_container(tmp_path: Path, name: str) -> None:
    made = prepare_audio(CASES / name, tmp_path / "mix.wav", fps=FPS, start_s=1.0, end_s=6.5)

    assert made.duration_s == pytest.approx(5.5, abs=1e-3)
    # 1 s into the crop is still the leading offset (silence); speech starts at ~1.95 s.
    assert _loudness(made.path, 0.0, 0.8) < 0.001
    assert _loudness(made.path, 1.5, 3.0) > 0.01


@pytest.mark.parametrize("name", OFFSET_FILES)
def test_without_a_crop_the_leading_offset_is_kept_as_silence(tmp_path: Path, name: str) -> None:
    made = prepare_audio(CASES / name, tmp_path / "mix.wav", fps=FPS)

    assert made.duration_s == pytest.approx(6.74, abs=0.02)


@pytest.mark.parametrize("name", OFFSET_FILES)
def test_a_crop_past_the_end_of_the_timeline_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(MediaError, match=rf"ends at 8 s, but {name} is only 6\.74 s long"):
        prepare_audio(CASES / name, tmp_path / "mix.wav", fps=FPS, start_s=1.0, end_s=8.0)
