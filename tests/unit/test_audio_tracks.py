"""Which audio track drives the video (the container's default), and how loud it is."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from pipeline.media.audio import SILENCE_PEAK_DB, peak_of, prepare_audio
from pipeline.media.probe import choose_audio, probe
from pipeline.media.process import logged_errors
from tests.helpers import SPEECH_LIKE, audio_tracks

FPS = 25


def _audio(default: int | None = None, **tags: str) -> dict[str, Any]:
    return {"codec_type": "audio", "disposition": {"default": int(bool(default))}, "tags": tags}


def test_the_track_marked_default_is_chosen_over_the_first() -> None:
    streams = [{"codec_type": "video", "index": 0}, _audio(0), _audio(1, language="eng")]
    streams = [{**stream, "index": n} for n, stream in enumerate(streams)]

    chosen = choose_audio(streams)

    assert chosen is not None
    assert (chosen[1].index, chosen[1].stream, chosen[1].tracks) == (1, 2, 2)
    assert (chosen[1].reason, chosen[1].language) == ("default", "eng")


def test_without_a_default_the_first_audio_track_is_chosen() -> None:
    chosen = choose_audio([_audio(0), _audio(0)])

    assert chosen is not None
    assert (chosen[1].index, chosen[1].reason) == (0, "first")


def test_of_several_defaults_the_first_is_chosen_and_one_track_is_the_only() -> None:
    several, only = choose_audio([_audio(1), _audio(1)]), choose_audio([_audio(0)])

    assert several is not None
    assert (several[1].index, several[1].reason) == (0, "default")
    assert only is not None
    assert (only[1].index, only[1].reason) == (0, "only")
    assert choose_audio([{"codec_type": "video"}]) is None


def test_the_peak_is_read_from_astats_and_errors_from_a_tagged_log() -> None:
    log = (
        b"[info] Input #0, wav, from 'x.wav':\n"
        b"[Parsed_astats_0 @ 0x5561] [info] Overall\n"
        b"[Parsed_astats_0 @ 0x5561] [info] Peak level dB: -12.954070\n"
        b"[aac @ 0x77] [error] Error while decoding stream #0:0\n"
    )

    assert peak_of(log) == pytest.approx(-12.954070)
    assert peak_of(log.replace(b"-12.954070", b"-inf")) == -math.inf
    assert peak_of(b"[info] nothing measured\n") is None
    assert logged_errors(log) == b"[aac @ 0x77] Error while decoding stream #0:0"
    assert logged_errors(b"plain error line") == b"plain error line"


@pytest.mark.slow
@pytest.mark.parametrize("container", ["mkv", "mp4", "mov", "mka"])
def test_a_silent_first_track_is_passed_over_for_the_default_one(
    tmp_path: Path, container: str
) -> None:
    src = audio_tracks(tmp_path / f"talk.{container}", [None, SPEECH_LIKE], default=1)

    mix = prepare_audio(src, tmp_path / "mix.wav", fps=FPS)

    assert mix.track is not None
    assert (mix.track.index, mix.track.tracks, mix.track.reason) == (1, 2, "default")
    assert mix.peak_db is not None
    assert -9.0 < mix.peak_db < -7.0
    assert not mix.silent
    assert probe(src).audio_track == mix.track


@pytest.mark.slow
def test_a_default_silent_track_is_measured_as_silent(tmp_path: Path) -> None:
    src = audio_tracks(tmp_path / "talk.mkv", [SPEECH_LIKE, None], default=1)

    mix = prepare_audio(src, tmp_path / "mix.wav", fps=FPS)

    assert mix.track is not None
    assert mix.track.index == 1
    assert mix.peak_db is not None
    assert mix.peak_db < SILENCE_PEAK_DB
    assert mix.silent


@pytest.mark.slow
def test_the_crop_is_measured_not_the_whole_file(tmp_path: Path) -> None:
    late = f"'if(gte(t,1),{SPEECH_LIKE},0)'"
    src = audio_tracks(tmp_path / "late.mka", [late], default=0, seconds=2.0)

    quiet = prepare_audio(src, tmp_path / "quiet.wav", fps=FPS, end_s=0.9)
    loud = prepare_audio(src, tmp_path / "loud.wav", fps=FPS, start_s=1.0)

    assert quiet.silent
    assert quiet.track is not None
    assert quiet.track.reason == "only"
    assert not loud.silent
