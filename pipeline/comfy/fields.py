"""Typed reads from decoded ComfyUI JSON that fail with ``MessageError`` naming the field."""

from __future__ import annotations

from typing import Any

from pipeline.domain.errors import MessageError


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MessageError(f"{what} must be an object, got {type(value).__name__}")
    return value


def opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    # Node ids are strings in every captured frame; a number is tolerated, not trusted.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MessageError(f"{key!r} must be a string, got {type(value).__name__}")


def req_str(data: dict[str, Any], key: str) -> str:
    value = opt_str(data, key)
    if value is None:
        raise MessageError(f"{key!r} is missing")
    return value


def num(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise MessageError(f"{key!r} must be a number, got {type(value).__name__}")


def str_list(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MessageError(f"{key!r} must be a list of strings")
    return tuple(value)
