"""The drop manifest (v1): what a user asks the pipeline to make. Pure, no I/O.

A drop is a folder ``inbox/{drop}/`` holding media and, uploaded last, ``manifest.json``.
Media are named relative to that folder.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pipeline.domain.errors import ManifestError, refusing
from pipeline.domain.quality import QcPolicy

MAX_MANIFEST_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
"""A manifest is flat; deeper nesting is refused before parsing (Python's parser recurses)."""
MAX_NAME_BYTES = 255
"""One path segment of a media name: NAME_MAX of ext4/APFS/NTFS, so every worker can store it."""
MAX_MEDIA_KEY_BYTES = 512
"""A media name in UTF-8; with ``sessions/{id}/inputs/`` it stays far below S3's 1024-byte keys."""
MIN_SIDE = 128
"""Pixels: the smallest width or height a manifest may ask for, a multiple of 16 like every
side (``make demo`` renders a CPU stack's sample at it, the real tier its sessions)."""
EMPTY_BODY_ETAG = "d41d8cd98f00b204e9800998ecf8427e"
"""MD5 of zero bytes: the ETag S3 and R2 give every empty single-part object."""


class Kind(StrEnum):
    """What a drop makes."""

    I2V = "i2v"
    """Wan 2.2 image-to-video, optionally extended segment by segment."""
    S2V = "s2v"
    """Wan 2.2 sound-to-video: an image driven by an audio track."""
    INFINITETALK = "infinitetalk"
    """InfiniteTalk lip-sync: a portrait and the vocals of an audio track."""


SPEECH_KINDS: frozenset[Kind] = frozenset({Kind.S2V, Kind.INFINITETALK})
"""Kinds whose audio is speech that moves a face: silent audio makes a still video, so it is
refused unless the manifest sets ``allow_silent_audio``."""

DEFAULT_FPS: dict[Kind, int] = {Kind.I2V: 16, Kind.S2V: 16, Kind.INFINITETALK: 25}
"""Frame rates the models were trained at (Wan 2.2: 16 fps; InfiniteTalk: 25 fps, seed 001)."""

_TIMESTAMP = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)$")


def parse_timestamp(value: str | float | int) -> float:
    """Seconds from ``"0:07"``, ``"1:02:03.5"``, ``"7.5"`` or a number; never negative."""
    if isinstance(value, bool):
        raise ValueError("a timestamp must be seconds or 'M:SS', not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"{value!r} is not a finite number of seconds")
    else:
        text = value.strip()
        match = _TIMESTAMP.match(text)
        if match:
            seconds = int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + float(match["s"])
            if float(match["s"]) >= 60:
                raise ValueError(f"{value!r}: seconds must be below 60")
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(f"{value!r} is not seconds or 'M:SS'") from None
            if not math.isfinite(seconds):
                raise ValueError(f"{value!r} is not a finite number of seconds")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


_DRIVE = re.compile(r"^[A-Za-z]:")


def normalize_media_name(value: str) -> str:
    """The one spelling of a media name relative to the drop folder.

    Equivalent spellings are accepted as users write them: Windows separators
    (``clips\\face.png``), ``./face.png``, doubled slashes; Unicode is kept as written
    (the drop's listing is matched in any normalization form later). Refused: absolute
    paths, drive letters, ``..``, control characters and segments longer than
    ``MAX_NAME_BYTES`` (or names over ``MAX_MEDIA_KEY_BYTES``) in UTF-8.
    """
    spelled = value.replace("\\", "/")
    parts = [part for part in spelled.split("/") if part not in ("", ".")]
    if not parts or spelled.startswith("/") or _DRIVE.match(spelled) or ".." in parts:
        raise ValueError(
            f"{value!r} must be a file name relative to the manifest's folder "
            "(no leading '/', no '..')"
        )
    if any(unicodedata.category(char) == "Cc" for char in spelled):
        raise ValueError(f"{value!r} contains control characters")
    longest = max(parts, key=lambda part: len(part.encode()))
    if len(longest.encode()) > MAX_NAME_BYTES:
        raise ValueError(
            f"a file name in {_shorten(value)} is {len(longest.encode())} bytes long; "
            f"the limit is {MAX_NAME_BYTES}"
        )
    name = str(PurePosixPath(*parts))
    if len(name.encode()) > MAX_MEDIA_KEY_BYTES:
        raise ValueError(f"{_shorten(value)} is longer than {MAX_MEDIA_KEY_BYTES} bytes")
    return name


def _shorten(value: str, keep: int = 40) -> str:
    return repr(value) if len(value) <= keep else repr(value[:keep] + "…")


MediaKey = Annotated[str, Field(min_length=1, max_length=512)]
Timestamp = Annotated[
    float,
    Field(ge=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^(\d+:)?\d+:\d+(\.\d+)?$|^\d+(\.\d+)?$"},
            ]
        }
    ),
]


class Manifest(BaseModel):
    """Manifest v1. Every field but ``kind`` and the media has a sensible default."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_enum_values=False, allow_inf_nan=False
    )

    version: Literal[1] = Field(default=1, description="Manifest format version.")
    kind: Kind = Field(description="What to make: i2v, s2v or infinitetalk.")
    image: MediaKey = Field(description="The start image or portrait, relative to the drop.")
    audio: MediaKey | None = Field(
        default=None, description="Audio driving s2v / infinitetalk, relative to the drop."
    )
    prompt: str = Field(default="", max_length=4000, description="What the video shows.")
    negative_prompt: str = Field(
        default="", max_length=4000, description="What the video must not show."
    )
    width: int = Field(
        default=832, ge=MIN_SIDE, le=2048, multiple_of=16, description="Pixels, a multiple of 16."
    )
    height: int = Field(
        default=480, ge=MIN_SIDE, le=2048, multiple_of=16, description="Pixels, a multiple of 16."
    )
    fit: Literal["cover", "contain"] | None = Field(
        default=None,
        description="How the image fills width x height: 'cover' crops the centre, "
        "'contain' shows it whole; unset covers but crops a portrait near its top.",
    )
    fps: int | None = Field(
        default=None, ge=1, le=60, description="Output frame rate; the kind's default if unset."
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**53,
        description="Sampling seed; derived from the session id when unset, so reruns repeat.",
    )
    steps: int | None = Field(
        default=None,
        ge=2,
        le=100,
        description="Sampling steps; the preset's default if unset (4 for the 4-step "
        "LightX2V LoRA presets, 6 for InfiniteTalk, 20 for S2V without the LoRA).",
    )
    cfg: float | None = Field(
        default=None,
        ge=0.0,
        le=30.0,
        description="Classifier-free guidance; the preset's default if unset (1.0 with a "
        "distilled LoRA, 6.0 for S2V without it).",
    )
    extensions: int = Field(
        default=0, ge=0, le=40, description="i2v: segments generated after the first one."
    )
    audio_start: Timestamp | None = Field(default=None, description="Crop start, s or 'M:SS'.")
    audio_end: Timestamp | None = Field(default=None, description="Crop end, s or 'M:SS'.")
    preset: str | None = Field(
        default=None, max_length=64, description="Model preset; the kind's default if unset."
    )
    callback_url: HttpUrl | None = Field(
        default=None,
        description="Receives a signed POST (Standard Webhooks) when the session ends; "
        "CALLBACK_URL's if unset.",
    )
    separate_vocals: bool = Field(
        default=True,
        description="s2v / infinitetalk: drive the model with the vocals separated from the "
        "audio (Demucs); false for clean speech, which is used as it is.",
    )
    allow_silent_audio: bool = Field(
        default=False,
        description="s2v / infinitetalk: render even when the audio is silent (its loudest "
        "sample below -60 dBFS), which is refused by default: the face would not move.",
    )
    qc: QcPolicy | None = Field(
        default=None,
        description="What a segment failing the quality check does: 'off' (nothing "
        "measured), 'report' (recorded; the session still succeeds), 'rerender' (that "
        "segment rendered again with a new seed, a few times, then the session fails), "
        "'fail'; the preset's if unset ('rerender' for the shipped presets).",
    )

    @field_validator("image", "audio")
    @classmethod
    def _media_is_relative(cls, value: str | None) -> str | None:
        return None if value is None else normalize_media_name(value)

    @field_validator("audio_start", "audio_end", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: Any) -> Any:
        return None if value is None else parse_timestamp(value)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.kind is Kind.I2V:
            if self.audio is not None:
                raise ValueError("kind 'i2v' takes no audio; use 's2v' or 'infinitetalk'")
            if self.allow_silent_audio:
                raise ValueError(
                    "kind 'i2v' takes no audio; 'allow_silent_audio' is for s2v and infinitetalk"
                )
        elif self.audio is None:
            raise ValueError(f"kind {self.kind.value!r} needs an 'audio' file")
        elif self.extensions:
            raise ValueError(
                f"kind {self.kind.value!r} derives its length from the audio; "
                "'extensions' is for i2v"
            )
        if self.kind is Kind.S2V and self.fps not in (None, DEFAULT_FPS[Kind.S2V]):
            raise ValueError(
                "kind 's2v' runs at 16 fps: WanSoundImageToVideo aligns audio to 16 fps"
            )
        if (
            self.audio_start is not None
            and self.audio_end is not None
            and self.audio_end <= self.audio_start
        ):
            raise ValueError("audio_end must come after audio_start")
        return self

    @property
    def refuses_silent_audio(self) -> bool:
        """Whether silent audio fails the session: a speech kind that does not allow it."""
        return self.kind in SPEECH_KINDS and not self.allow_silent_audio

    @property
    def effective_fps(self) -> int:
        return self.fps or DEFAULT_FPS[self.kind]

    def media(self) -> dict[str, str]:
        """Role → relative key of every media file the manifest names."""
        named = {"image": self.image, "audio": self.audio}
        return {role: key for role, key in named.items() if key is not None}


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and validate manifest bytes, raising ``ManifestError`` a user can act on.

    Every failure is a refusal, never a retry: size, emptiness and nesting are checked
    before parsing, ``NaN``/``Infinity`` are not JSON numbers here, and anything else the
    parser or validators raise is turned into a ``ManifestError`` by ``refusing``.
    """
    with refusing(ManifestError, "manifest.json"):
        return _parse_manifest(raw)


def _parse_manifest(raw: bytes) -> Manifest:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest.json is {len(raw)} bytes; the limit is {MAX_MANIFEST_BYTES}")
    if not raw.strip():
        raise ManifestError(
            "the manifest is empty (manifest.json holds no JSON); upload it again with its content"
        )
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise ManifestError(
            f"manifest.json nests {depth} levels deep; a manifest is one flat JSON object"
        )
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ManifestError(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestError("manifest.json must be a JSON object")
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        raise ManifestError(
            f"manifest.json is invalid: {describe_validation_error(exc)}",
            detail={"errors": _jsonable(exc)},
        ) from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a manifest accepts (finite numbers only)")


def json_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting in JSON bytes, ignoring brackets inside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def named_media(raw: bytes) -> dict[str, str]:
    """Role → normalized name of the media an (even invalid) manifest names, best effort.

    Used to keep a refused drop's media with its session; names that are not usable
    strings are skipped, and nothing here raises.
    """
    try:
        with refusing(ManifestError, "manifest.json"):
            if json_depth(raw) > MAX_JSON_DEPTH:
                return {}
            document = json.loads(raw, parse_constant=_refuse_constant)
    except (ManifestError, ValueError):
        return {}
    if not isinstance(document, dict):
        return {}
    named: dict[str, str] = {}
    for role in ("image", "audio"):
        value = document.get(role)
        if isinstance(value, str):
            try:
                named[role] = normalize_media_name(value)
            except ValueError:
                continue
    return named


def describe_validation_error(exc: ValidationError) -> str:
    """Every problem of a manifest's ``ValidationError`` as ``field: problem``, ``; ``-joined.

    An unknown field is named with the closest known one (``promt: unknown field; did you
    mean 'prompt'?``) instead of pydantic's "Extra inputs are not permitted".
    """
    return "; ".join(_describe(error) for error in exc.errors())


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(where, Manifest.model_fields, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "'pipeline schema' lists the fields"
        return f"{where}: unknown field; {hint}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _jsonable(exc: ValidationError) -> list[dict[str, object]]:
    return [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]


def json_schema() -> dict[str, Any]:
    """The manifest's published JSON Schema (``pipeline/schemas/manifest.v1.json``)."""
    schema = Manifest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/wan-pipeline/wan-pipeline/manifest.v1.json"
    schema["title"] = "Drop manifest v1"
    return schema
