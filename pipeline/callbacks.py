"""Completion callbacks, signed the Standard Webhooks way. Pure: no I/O.

Scheme (https://www.standardwebhooks.com, spec v1): each POST carries ``webhook-id`` (the
same for every retry of one message), ``webhook-timestamp`` (Unix seconds of this attempt)
and ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}``
with the secret. Secrets are written ``whsec_`` + base64 of the key bytes; a receiver
verifies with any Standard Webhooks library, e.g. Python's
``standardwebhooks.Webhook(secret).verify(body, headers)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret; ``ValueError`` if it is not that form."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a callback secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a callback secret is whsec_ followed by base64") from None
    if len(key) < 16:
        raise ValueError("a callback secret needs at least 16 bytes of key (24 base64 chars)")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,{base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")}``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def headers(key: bytes | None, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request's headers; unsigned (no ``webhook-signature``) without a key."""
    sent = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if key is not None:
        sent["webhook-signature"] = signature(key, message_id, timestamp, body)
    return sent
