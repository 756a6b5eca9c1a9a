"""What a file that failed to decode looks like, so error messages can say it."""

from __future__ import annotations

from pathlib import Path

_HEAD_BYTES = 64

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive or office document"),
    (0, b"ID3", "an MP3 audio file"),
    (0, b"fLaC", "a FLAC audio file"),
    (0, b"OggS", "an Ogg audio or video file"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"),
)


def _riff_kind(head: bytes) -> str | None:
    if head[:4] != b"RIFF":
        return None
    return {
        b"WAVE": "a WAV audio file",
        b"AVI ": "an AVI video",
        b"WEBP": "a WebP image",
    }.get(head[8:12], "a RIFF file")


def _iso_media_kind(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "a HEIC/HEIF photo"
    if brand == b"avif":
        return "an AVIF image"
    if brand in (b"M4A ", b"M4B "):
        return "an M4A audio file"
    return "an MP4/MOV video"


def _decoded_text(head: bytes) -> str | None:
    # The window may cut a multi-byte character in half: allow up to 3 trailing bytes.
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _text_kind(head: bytes) -> str | None:
    text = _decoded_text(head)
    if not text or any(ch < " " and ch not in "\t\r\n" for ch in text):
        return None
    stripped = text.lstrip().lower()
    if stripped.startswith(("<svg", "<?xml")):
        return "an SVG/XML file"
    if stripped.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    if stripped.startswith(("{", "[")):
        return "a JSON file"
    return "a text file"


def describe(path: Path) -> str | None:
    """A short guess such as ``"a text file"``, or ``None`` when nothing is recognised."""
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
    if not head:
        return "an empty file"
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return _riff_kind(head) or _iso_media_kind(head) or _text_kind(head)


def looks_like(path: Path) -> str:
    """`` (it looks like …)`` for appending to a message, or an empty string."""
    kind = describe(path)
    return f" (it looks like {kind})" if kind else ""
