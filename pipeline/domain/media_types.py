"""The media types a drop may hold: the one list the CLI and the workers both accept. Pure.

The CLI (``pipeline drop``) can only see a file's extension, so it sorts files into image
and audio by ``role_of``; the workers see the bytes, so they accept a file by what its
decoder says it is (Pillow's ``Image.format``, ffprobe's ``format_name``) with
``image_type_of`` / ``audio_type_of``. Both read ``MEDIA_TYPES``, so a type is accepted by
both or by neither; ``tests/unit/test_media_types.py`` makes a sample of every extension
with the installed ffmpeg and has it pass both sides.

A file's extension and its bytes may disagree (a PNG named ``face.jpg``): the workers go by
the bytes, which is what the user's viewer shows too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["image", "audio"]


@dataclass(frozen=True)
class MediaType:
    """One kind of file: its extensions (lower case, with the dot) and decoder names."""

    name: str
    role: Role
    extensions: tuple[str, ...]
    formats: tuple[str, ...]
    """Images: Pillow's ``Image.format`` names. Audio: ffmpeg demuxer names, one of which
    appears in ffprobe's comma-separated ``format_name`` (``mov,mp4,m4a,3gp,3g2,mj2``)."""


def _image(name: str, extensions: tuple[str, ...], *formats: str) -> MediaType:
    return MediaType(name, "image", extensions, formats)


def _audio(name: str, extensions: tuple[str, ...], *formats: str) -> MediaType:
    return MediaType(name, "audio", extensions, formats)


IMAGE_TYPES: tuple[MediaType, ...] = (
    _image("PNG / APNG", (".png", ".apng"), "PNG"),
    # MPO: the multi-picture JPEG of phone and 3D cameras; Pillow reads its first picture.
    _image("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), "JPEG", "MPO"),
    _image("WebP", (".webp",), "WEBP"),
    _image("AVIF", (".avif",), "AVIF"),
    _image("BMP", (".bmp",), "BMP"),
    _image("GIF", (".gif",), "GIF"),
    _image("TIFF", (".tif", ".tiff"), "TIFF"),
)
"""Still pictures Pillow decodes (an animation's first frame is the start image)."""

AUDIO_TYPES: tuple[MediaType, ...] = (
    _audio("WAV", (".wav", ".wave"), "wav"),
    _audio("Sony Wave64", (".w64",), "w64"),
    _audio("MP3 / MP2", (".mp3", ".mp2"), "mp3"),
    _audio("FLAC", (".flac",), "flac"),
    _audio("Ogg (Vorbis, Opus, Speex, Theora)", (".ogg", ".oga", ".opus", ".spx", ".ogv"), "ogg"),
    _audio(
        "MP4 / MOV / 3GP",
        (".m4a", ".m4b", ".mp4", ".m4v", ".mov", ".3gp", ".3g2"),
        "mov",
        "mp4",
        "m4a",
        "3gp",
        "3g2",
    ),
    _audio("AAC (ADTS)", (".aac",), "aac"),
    _audio("Matroska / WebM", (".mka", ".mkv", ".webm", ".weba"), "matroska", "webm"),
    _audio("AIFF", (".aif", ".aiff", ".aifc"), "aiff"),
    _audio("Core Audio", (".caf",), "caf"),
    _audio("Sun AU", (".au", ".snd"), "au"),
    _audio("Windows Media", (".wma", ".wmv", ".asf"), "asf"),
    _audio("WavPack", (".wv",), "wv"),
    _audio("Monkey's Audio", (".ape",), "ape"),
    _audio("AMR", (".amr",), "amr"),
    _audio("AC-3", (".ac3",), "ac3"),
    _audio("E-AC-3", (".eac3",), "eac3"),
    _audio("DTS", (".dts",), "dts"),
    _audio("True Audio", (".tta",), "tta"),
    _audio("AVI", (".avi",), "avi"),
    _audio("Flash Video", (".flv",), "flv"),
    _audio("MPEG program stream", (".mpg", ".mpeg"), "mpeg"),
    _audio("MPEG transport stream", (".ts", ".mts", ".m2ts"), "mpegts"),
    _audio("MXF", (".mxf",), "mxf"),
)
"""Audio files and video containers ffmpeg decodes audio from (the container's default
audio track is used, see ``pipeline.media.probe``)."""

MEDIA_TYPES: tuple[MediaType, ...] = IMAGE_TYPES + AUDIO_TYPES
"""Every accepted type; an extension belongs to exactly one."""

_BY_EXTENSION: dict[str, MediaType] = {
    extension: kind for kind in MEDIA_TYPES for extension in kind.extensions
}


def extensions(role: Role) -> frozenset[str]:
    """Every extension (``".png"``) of ``role``'s types."""
    return frozenset(ext for kind in MEDIA_TYPES if kind.role == role for ext in kind.extensions)


def role_of(file_name: str) -> Role | None:
    """``image`` / ``audio`` for a file name's extension (any case), ``None`` when unknown."""
    dot = file_name.rfind(".")
    kind = _BY_EXTENSION.get(file_name[dot:].lower()) if dot >= 0 else None
    return kind.role if kind else None


def image_type_of(pillow_format: str | None) -> MediaType | None:
    """The accepted image type of a Pillow ``Image.format``, or ``None``."""
    return next((kind for kind in IMAGE_TYPES if pillow_format in kind.formats), None)


def audio_type_of(format_name: str | None) -> MediaType | None:
    """The accepted type of ffprobe's ``format_name`` (``"matroska,webm"``), or ``None``."""
    demuxers = set((format_name or "").split(","))
    return next((kind for kind in AUDIO_TYPES if demuxers & set(kind.formats)), None)


def accepted(role: Role) -> str:
    """``PNG / APNG, JPEG, …`` for messages refusing a type."""
    return ", ".join(kind.name for kind in MEDIA_TYPES if kind.role == role)
