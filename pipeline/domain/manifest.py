"""The drop manifest (v1): what a user asks the pipeline to make. Pure, no I/O.

A drop is a folder ``inbox/{drop}/`` holding media and, uploaded last, ``manifest.json``.
Media are named relative to that folder.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pipeline.domain.errors import ManifestError

MAX_MANIFEST_BYTES = 64 * 1024


class Kind(StrEnum):
    """What a drop makes."""

    I2V = "i2v"
    """Wan 2.2 image-to-video, optionally extended segment by segment."""
    S2V = "s2v"
    """Wan 2.2 sound-to-video: an image driven by an audio track."""
    INFINITETALK = "infinitetalk"
    """InfiniteTalk lip-sync: a portrait and the vocals of an audio track."""


DEFAULT_FPS: dict[Kind, int] = {Kind.I2V: 16, Kind.S2V: 16, Kind.INFINITETALK: 25}
"""Frame rates the models were trained at (Wan 2.2: 16 fps; InfiniteTalk: 25 fps, seed 001)."""

_TIMESTAMP = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)$")


def parse_timestamp(value: str | float | int) -> float:
    """Seconds from ``"0:07"``, ``"1:02:03.5"``, ``"7.5"`` or a number; never negative."""
    if isinstance(value, bool):
        raise ValueError("a timestamp must be seconds or 'M:SS', not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
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
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


def _relative_media_key(value: str) -> str:
    path = PurePosixPath(value)
    if (
        not value
        or value.startswith("/")
        or "\\" in value
        or any(part in ("", ".", "..") for part in value.split("/"))
    ):
        raise ValueError(
            f"{value!r} must be a file name relative to the manifest's folder "
            "(no leading '/', no '..')"
        )
    return str(path)


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

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    version: Literal[1] = 1
    kind: Kind
    image: MediaKey = Field(description="The start image or portrait, relative to the drop.")
    audio: MediaKey | None = Field(
        default=None, description="Audio driving s2v / infinitetalk, relative to the drop."
    )
    prompt: str = Field(default="", max_length=4000)
    negative_prompt: str = Field(default="", max_length=4000)
    width: int = Field(default=832, ge=128, le=2048, multiple_of=16)
    height: int = Field(default=480, ge=128, le=2048, multiple_of=16)
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
    separate_vocals: bool = Field(
        default=True,
        description="s2v / infinitetalk: drive the model with the vocals separated from the "
        "audio (Demucs); false for clean speech, which is used as it is.",
    )

    @field_validator("image", "audio")
    @classmethod
    def _media_is_relative(cls, value: str | None) -> str | None:
        return None if value is None else _relative_media_key(value)

    @field_validator("audio_start", "audio_end", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: Any) -> Any:
        return None if value is None else parse_timestamp(value)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.kind is Kind.I2V:
            if self.audio is not None:
                raise ValueError("kind 'i2v' takes no audio; use 's2v' or 'infinitetalk'")
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
    def effective_fps(self) -> int:
        return self.fps or DEFAULT_FPS[self.kind]

    def media(self) -> dict[str, str]:
        """Role → relative key of every media file the manifest names."""
        named = {"image": self.image, "audio": self.audio}
        return {role: key for role, key in named.items() if key is not None}


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and validate manifest bytes, raising ``ManifestError`` a user can act on."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest.json is {len(raw)} bytes; the limit is {MAX_MANIFEST_BYTES}")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestError("manifest.json must be a JSON object")
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ManifestError(
            f"manifest.json is invalid: {problems}", detail={"errors": _jsonable(exc)}
        ) from None


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
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
