"""Audio: a file of an accepted type, cropped, converted for its consumer, padded, checked.

``prepare_audio`` takes the user's file (refusing what cannot drive a video with a
``MediaError``): its default audio track (``pipeline.media.probe.choose_audio``), measured
for loudness in the same ffmpeg pass (``astats``) so that silence can be refused;
``pad_audio`` lengthens the pipeline's own audio with silence to the length a frame plan
asks the model for.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ffmpeg

from pipeline.domain.errors import InternalError, MediaError
from pipeline.domain.media_types import accepted, audio_type_of
from pipeline.media.probe import AudioTrack, probe
from pipeline.media.process import (
    FFPROBE,
    ffmpeg_command,
    logged_errors,
    run,
    run_checked,
    stderr_tail,
)
from pipeline.media.sniff import looks_like

MAX_AUDIO_S = 600.0
"""Default limit on the cropped length: ten minutes is hours of GPU time at 25 fps."""

LOUDNESS = {"i": -16.0, "tp": -1.5, "lra": 11.0}
"""EBU R128 targets for ffmpeg's loudnorm: -16 LUFS, the usual level for speech online."""

SILENCE_PEAK_DB = -60.0
"""Audio whose loudest sample stays below this (dBFS) holds nothing to hear: ffmpeg's
``silencedetect`` counts the same level (its default ``noise``, -60 dB) as silence. Speech
peaks far above it (tens of dB), an empty track's dither or hiss below it."""


@dataclass(frozen=True)
class AudioTarget:
    """What a consumer needs; ``None`` keeps the source's rate or channel count."""

    sample_rate: int | None = None
    channels: int | None = None
    codec: str = "pcm_s16le"


SPEECH_16K_MONO = AudioTarget(16_000, 1)
"""wav2vec2, the audio encoder of InfiniteTalk and Wan S2V, takes 16 kHz mono."""
FULL_QUALITY = AudioTarget(codec="pcm_s24le")
"""The cropped mix kept for the final video: the source's rate and channels, lossless."""


@dataclass(frozen=True)
class AudioFile:
    path: Path
    duration_s: float
    """Exact length of the written file (from its sample count)."""
    sample_rate: int
    channels: int
    peak_db: float | None = None
    """Loudest sample in dBFS (``-inf`` for digital silence) when it was measured."""
    track: AudioTrack | None = None
    """Which track of the user's file this was taken from (``prepare_audio`` only)."""

    @property
    def silent(self) -> bool:
        """Measured, and its peak stays below ``SILENCE_PEAK_DB``."""
        return self.peak_db is not None and self.peak_db < SILENCE_PEAK_DB


_PEAK = re.compile(r"\[Parsed_astats_\d+ @ [^\]]*\] \[info\] Peak level dB: (?P<db>\S+)")


def peak_of(stderr: bytes) -> float | None:
    """The overall peak (dBFS) that ``astats`` logged at ``-loglevel level+info``, if any."""
    found = _PEAK.findall(stderr.decode("utf-8", errors="replace"))
    if not found:
        return None
    try:
        value = float(found[-1])
    except ValueError:
        return None
    return value if not math.isnan(value) else None


def _stream_of(path: Path) -> AudioFile:
    """Rate, channels and duration of a file this module wrote."""
    done = run_checked(
        [FFPROBE, "-v", "error", "-select_streams", "a:0", "-show_streams", "-of", "json",
         str(path)],
        what=f"probe {path.name}",
    )  # fmt: skip
    streams: list[dict[str, Any]] = json.loads(done.stdout).get("streams", [])
    if not streams:
        raise InternalError(f"ffmpeg wrote {path.name} without an audio stream")
    stream = streams[0]
    return AudioFile(
        path=path,
        duration_s=float(stream.get("duration", 0.0)),
        sample_rate=int(stream["sample_rate"]),
        channels=int(stream["channels"]),
    )


def build_audio_command(
    src: Path,
    dst: Path,
    *,
    target: AudioTarget,
    source_rate: int | None = None,
    timeline: bool = False,
    start_s: float = 0.0,
    end_s: float | None = None,
    limit_s: float | None = None,
    loudness: bool = False,
    pad_to_s: float | None = None,
    track: int = 0,
    measure: bool = False,
) -> list[str]:
    """The one ffmpeg run that crops, converts and pads; pure, so its arguments can be checked.

    ``track`` is the audio track used (ffmpeg's ``a:{track}``). With ``measure``, ffmpeg's
    ``astats`` measures the cropped audio before any loudness change, in the same pass, and
    logs its peak (read back by ``peak_of``); ffmpeg then logs at ``level+info``.

    With ``timeline`` (a user's file), the output and the crop follow the timeline players
    show: t = 0 at the start of the file, whatever timestamp its first sample carries (an
    MP4 edit list, a Matroska offset), a leading offset being silence. So timestamps are
    kept as stored (``-copyts``), ``aresample`` pads the start to t = 0 (``first_pts=0``;
    ``async=1`` only pads or trims the start, never stretches), and ``atrim`` cuts
    sample-exactly. ``limit_s`` stops the output (and so the decoding) after that long.
    """
    options: dict[str, Any] = {"copyts": None} if timeline else {}
    audio = ffmpeg.input(str(src), **options)[f"a:{track}"]
    if timeline:
        audio = audio.filter("aresample", **{"async": 1, "first_pts": 0})
        bounds: dict[str, float] = {"start": start_s} if start_s > 0 else {}
        if end_s is not None:
            bounds["end"] = end_s
        if bounds:
            audio = audio.filter("atrim", **bounds).filter("asetpts", "PTS-STARTPTS")
    if measure:
        # astats takes every sample format as it is (volumedetect would force 16 bits).
        audio = audio.filter(
            "astats", measure_perchannel="none", measure_overall="Peak_level+RMS_level"
        )
    if loudness:
        audio = audio.filter("loudnorm", **LOUDNESS)
    if pad_to_s is not None:
        audio = audio.filter("atrim", duration=pad_to_s).filter("apad", whole_dur=pad_to_s)
    output: dict[str, Any] = {"acodec": target.codec}
    # loudnorm works at 192 kHz: name the rate even when the source's is kept.
    rate = target.sample_rate or (source_rate if loudness else None)
    if rate is not None:
        output["ar"] = rate
    if target.channels is not None:
        output["ac"] = target.channels
    if limit_s is not None:
        output["t"] = limit_s
    return ffmpeg_command(ffmpeg.output(audio, str(dst), **output), report=measure)


def _check_length(
    name: str, seconds: float, *, fps: int, max_s: float, tolerance_s: float = 0.0
) -> None:
    if seconds <= 0:
        raise MediaError(f"{name} holds no audio (0 s)")
    if seconds < 1 / fps:
        raise MediaError(
            f"{name} gives {seconds * 1000:.0f} ms of audio, shorter than one frame at {fps} fps"
        )
    if seconds > max_s + tolerance_s:
        raise MediaError(
            f"{name} gives {seconds:.1f} s of audio, more than the {max_s:g} s limit; "
            "crop it with audio_start/audio_end"
        )


def timeline_length(src: Path, track: int = 0) -> float:
    """How long ``src`` plays (its audio track ``track``, from t = 0), decoded, not guessed."""
    with tempfile.TemporaryDirectory(prefix="timeline-") as folder:
        probe_wav = Path(folder) / "timeline.wav"
        run_checked(
            build_audio_command(
                src, probe_wav, target=AudioTarget(8_000, 1), timeline=True, track=track
            ),
            what=f"measure {src.name}",
        )
        return _stream_of(probe_wav).duration_s


def prepare_audio(
    src: Path,
    dst: Path,
    *,
    fps: int,
    start_s: float = 0.0,
    end_s: float | None = None,
    target: AudioTarget = FULL_QUALITY,
    loudness: bool = False,
    max_s: float = MAX_AUDIO_S,
) -> AudioFile:
    """Write the user's audio between ``start_s`` and ``end_s`` to ``dst`` as ``target``.

    The audio is the file's default track (``pipeline.media.probe.choose_audio``), named in
    the result's ``track``; its ``peak_db`` is measured on the crop (whether silence is
    refused is the caller's rule). Both bounds are on the timeline players show (see
    ``build_audio_command``), the same in every container; the length check is on what was
    decoded, not on a header. Refused with ``MediaError``: unreadable or mislabelled files,
    a container not among ``pipeline.domain.media_types.AUDIO_TYPES``, no audio stream,
    nothing to hear, a crop reaching past the end by more than one frame, less than one
    frame at ``fps`` or more than ``max_s`` after cropping.
    """
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise ValueError(f"crop {start_s}..{end_s} s is not a forward range")
    name = src.name
    info = probe(src)
    if not info.has_audio or info.audio_track is None:
        raise MediaError(f"{name} has no audio stream{looks_like(src)}")
    if audio_type_of(info.format_name) is None:
        raise MediaError(
            f"{name} is a file ffmpeg reads as {info.format_name!r}, not one of the accepted "
            f"audio or video types ({accepted('audio')})"
        )
    track = info.audio_track
    if end_s is not None:
        _check_length(name, end_s - start_s, fps=fps, max_s=max_s)
    command = build_audio_command(
        src, dst, target=target, source_rate=info.audio_sample_rate, timeline=True, start_s=start_s,
        end_s=end_s, limit_s=None if end_s is not None else max_s + 1.0, loudness=loudness,
        track=track.index, measure=True,
    )  # fmt: skip
    done = run(command)
    if done.returncode != 0:
        dst.unlink(missing_ok=True)
        errors = logged_errors(done.stderr)
        reason = stderr_tail(errors, lines=1).replace(str(src), name)
        raise MediaError(
            f"{name} could not be decoded: {reason}", detail={"stderr": stderr_tail(errors)}
        )
    written = replace(_stream_of(dst), peak_db=peak_of(done.stderr), track=track)
    frame = 1 / fps
    if start_s > 0 and written.duration_s < frame:
        raise MediaError(
            f"the crop starts at {start_s:g} s, but {name} is only "
            f"{timeline_length(src, track.index):.2f} s long"
        )
    if end_s is not None and (end_s - start_s) - written.duration_s > frame:
        raise MediaError(
            f"the crop ends at {end_s:g} s, but {name} is only "
            f"{timeline_length(src, track.index):.2f} s "
            "long (counted from the start of the file, as players show it)"
        )
    _check_length(name, written.duration_s, fps=fps, max_s=max_s, tolerance_s=frame)
    return written


def pad_audio(
    src: Path, dst: Path, duration_s: float, *, target: AudioTarget = SPEECH_16K_MONO
) -> AudioFile:
    """``src`` (the pipeline's own audio) as ``target``, exactly ``duration_s`` long.

    Silence fills whatever ``src`` lacks, so a model given a padded plan hears silence at
    the end instead of seeing zero-padded embeddings (seed 001's end-of-video distortion).
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, not {duration_s}")
    run_checked(
        build_audio_command(src, dst, target=target, pad_to_s=duration_s),
        what=f"pad {src.name} to {duration_s:g} s",
    )
    return _stream_of(dst)
