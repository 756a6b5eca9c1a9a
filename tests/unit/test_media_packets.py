"""The framecrc listing's figures against ffprobe's, on clips ffmpeg makes."""

from __future__ import annotations

from pathlib import Path

import ffmpeg
import pytest

from pipeline.media.packets import copy_args, parse_packets
from pipeline.media.probe import probe

pytestmark = pytest.mark.slow


def _clip(path: Path, audio_s: float | None) -> Path:
    streams = [ffmpeg.input("testsrc2=s=320x192:r=16", f="lavfi").video.trim(end_frame=33)]
    if audio_s is not None:
        tone = f"sine=frequency=220:sample_rate=48000:duration={audio_s}"
        streams.append(ffmpeg.input(tone, f="lavfi").audio)
    ffmpeg.output(*streams, str(path), vcodec="libx264", pix_fmt="yuv420p").run(
        quiet=True, overwrite_output=True
    )
    return path


@pytest.mark.parametrize("audio_s", [None, 2.0625, 1.0], ids=["silent", "full", "short"])
def test_the_listing_gives_ffprobes_size_frames_and_audio(tmp_path: Path, audio_s: float) -> None:
    clip = _clip(tmp_path / "clip.mp4", audio_s)
    listing = tmp_path / "packets.txt"
    copy_args(ffmpeg.input(str(clip)), str(listing)).run(quiet=True, overwrite_output=True)
    packets = parse_packets(listing.read_text("utf-8"))
    info = probe(clip, decode=False)

    assert (packets.width, packets.height) == (info.width, info.height)
    assert packets.has_audio is info.has_audio
    if info.audio_duration_s is None:
        assert packets.audio_duration_s is None
    else:
        assert packets.audio_duration_s == pytest.approx(info.audio_duration_s, abs=1e-3)
