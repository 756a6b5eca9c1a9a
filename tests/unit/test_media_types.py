"""The CLI and the workers accept the same media types, from ``pipeline.domain.media_types``.

A sample of every listed extension is made with the installed ffmpeg; the CLI must sort it
into its role and the worker's preparation must decode it and name it the same type.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from pipeline.cli.upload import classify_media
from pipeline.domain.errors import ManifestError, MediaError
from pipeline.domain.media_types import (
    MEDIA_TYPES,
    audio_type_of,
    extensions,
    image_type_of,
    role_of,
)
from pipeline.media.audio import prepare_audio
from pipeline.media.image import normalize_image
from pipeline.media.probe import probe

TONE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.5"]
# 25 fps: MXF takes no 16 fps video.
PICTURE = ["-f", "lavfi", "-i", "testsrc2=size=96x80:rate=25:duration=0.5"]

IMAGE_OUTPUT: dict[str, list[str]] = {
    ".apng": ["-f", "apng"],
    ".jpe": ["-f", "image2", "-c:v", "mjpeg"],
    ".jfif": ["-f", "image2", "-c:v", "mjpeg"],
    ".jpg": ["-pix_fmt", "yuvj420p"],
    ".jpeg": ["-pix_fmt", "yuvj420p"],
    ".avif": ["-c:v", "libaom-av1", "-still-picture", "1"],
}
"""ffmpeg output options a sample needs beyond its extension (``-frames:v 1`` always)."""

AUDIO_OUTPUT: dict[str, list[str]] = {
    ".wave": ["-f", "wav"],
    ".snd": ["-f", "au"],
    ".weba": ["-f", "webm", "-c:a", "libopus"],
    ".3gp": ["-c:a", "aac"],
    ".3g2": ["-c:a", "aac"],
    ".dts": ["-strict", "-2"],
    ".ogv": ["-c:a", "libvorbis"],
}
WITH_PICTURE: dict[str, list[str]] = {
    ".mxf": ["-c:v", "mpeg2video", "-c:a", "pcm_s16le"],
}
"""Containers ffmpeg writes only with a video stream."""
NO_ENCODER = {".ape": ("ape", "ape"), ".amr": ("amr", "amrnb")}
"""Extensions ffmpeg decodes but has no encoder for: (demuxer, decoder) must be present."""


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)


def _image_sample(folder: Path, extension: str) -> Path:
    path = folder / f"face{extension}"
    _ffmpeg(*PICTURE, "-frames:v", "1", *IMAGE_OUTPUT.get(extension, []), str(path))
    return path


def _audio_sample(folder: Path, extension: str) -> Path:
    path = folder / f"voice{extension}"
    if extension in WITH_PICTURE:
        _ffmpeg(*PICTURE, *TONE, *WITH_PICTURE[extension], "-shortest", str(path))
    else:
        _ffmpeg(*TONE, *AUDIO_OUTPUT.get(extension, []), str(path))
    return path


def test_every_extension_belongs_to_exactly_one_type() -> None:
    listed = [ext for kind in MEDIA_TYPES for ext in kind.extensions]

    assert len(listed) == len(set(listed))
    assert all(ext == ext.lower() and ext.startswith(".") for ext in listed)
    assert extensions("image").isdisjoint(extensions("audio"))


def test_the_cli_sorts_files_by_the_list(tmp_path: Path) -> None:
    for name in ("face.AVIF", "voice.Opus", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")

    media = classify_media([tmp_path / "face.AVIF", tmp_path / "voice.Opus"])

    assert (media["image"].name, media["audio"].name) == ("face.AVIF", "voice.Opus")
    assert role_of("clip.MKV") == "audio"
    assert role_of("README") is None
    with pytest.raises(ManifestError, match=r"notes\.txt: not a known .*AVIF"):
        classify_media([tmp_path / "face.AVIF", tmp_path / "notes.txt"])


@pytest.mark.slow
@pytest.mark.parametrize("extension", sorted(extensions("image")))
def test_every_image_extension_the_cli_accepts_the_worker_decodes_as_that_type(
    tmp_path: Path, extension: str
) -> None:
    sample = _image_sample(tmp_path, extension)
    (tmp_path / "voice.wav").write_bytes(b"x")

    media = classify_media([sample, tmp_path / "voice.wav"])
    info = normalize_image(sample, tmp_path / "out.jpg", 64, 64)

    assert media["image"] == sample
    kind = image_type_of(info.source_format)
    assert kind is not None
    assert extension in kind.extensions
    with Image.open(tmp_path / "out.jpg") as written:
        assert written.size == (64, 64)


@pytest.mark.slow
@pytest.mark.parametrize("extension", sorted(extensions("audio") - NO_ENCODER.keys()))
def test_every_audio_extension_the_cli_accepts_the_worker_decodes_as_that_type(
    tmp_path: Path, extension: str
) -> None:
    sample = _audio_sample(tmp_path, extension)
    (tmp_path / "face.png").write_bytes(b"x")

    media = classify_media([tmp_path / "face.png", sample])
    mix = prepare_audio(sample, tmp_path / "mix.wav", fps=25)

    assert media["audio"] == sample
    kind = audio_type_of(probe(sample).format_name)
    assert kind is not None
    assert extension in kind.extensions
    assert mix.duration_s > 0.3
    assert not mix.silent


@pytest.mark.slow
@pytest.mark.parametrize(("demuxer", "decoder"), sorted(NO_ENCODER.values()))
def test_a_listed_type_ffmpeg_cannot_write_it_can_still_read(demuxer: str, decoder: str) -> None:
    for what, name in (("demuxer", demuxer), ("decoder", decoder)):
        shown = subprocess.run(
            ["ffmpeg", "-hide_banner", "-h", f"{what}={name}"], capture_output=True, text=True
        )
        assert shown.stdout.startswith(what.capitalize()), shown.stdout


def test_every_sample_recipe_and_exception_names_a_listed_extension() -> None:
    """A type dropped from the list must not leave its exception here to hide another."""
    assert set(IMAGE_OUTPUT) <= extensions("image")
    assert set(AUDIO_OUTPUT) | set(WITH_PICTURE) | set(NO_ENCODER) <= extensions("audio")


@pytest.mark.slow
def test_a_decodable_file_of_an_unlisted_type_is_refused_by_the_worker(tmp_path: Path) -> None:
    picture = tmp_path / "face.png"
    Image.new("RGB", (96, 96), (10, 20, 30)).save(picture, "PPM")
    voice = tmp_path / "voice.wav"
    _ffmpeg(*TONE, "-c:a", "pcm_u8", "-f", "voc", str(voice))

    with pytest.raises(MediaError, match=r"face\.png is a PPM image, not one of the accepted"):
        normalize_image(picture, tmp_path / "out.jpg", 64, 64)
    with pytest.raises(MediaError, match=r"voice\.wav is a file ffmpeg reads as 'voc'"):
        prepare_audio(voice, tmp_path / "mix.wav", fps=25)
