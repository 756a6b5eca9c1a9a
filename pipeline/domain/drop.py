"""A drop's identity: which manifest version of which bucket a session belongs to. Pure.

The session id (and so the workflow id) is derived from bucket + manifest key + ETag, so
every event source that sees the same upload computes the same id, a replayed event maps
onto the session it already started, and a changed manifest (new ETag) is a new session.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict

from pipeline.domain.layout import drop_name, is_manifest_key

WORKFLOW_ID_PREFIX = "session-"
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")
_SLUG_MAX = 40
_HASH_CHARS = 16


def normalize_etag(etag: str) -> str:
    """ETags arrive quoted from S3 and unquoted from event bodies; compare them bare."""
    return etag.strip().strip('"').lower()


class DropRef(BaseModel):
    """One uploaded manifest version."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    manifest_key: str
    etag: str

    @property
    def session_id(self) -> str:
        """``{slug of the drop name}-{16 hex}``: readable in listings, unique per upload."""
        digest = hashlib.sha256(
            "\0".join((self.bucket, self.manifest_key, normalize_etag(self.etag))).encode()
        ).hexdigest()[:_HASH_CHARS]
        slug = _SLUG_UNSAFE.sub("-", drop_name(self.manifest_key).lower()).strip("-")
        slug = slug[:_SLUG_MAX].rstrip("-")
        return f"{slug}-{digest}" if slug else digest

    @property
    def workflow_id(self) -> str:
        return WORKFLOW_ID_PREFIX + self.session_id

    @classmethod
    def of(cls, bucket: str, manifest_key: str, etag: str) -> DropRef:
        if not is_manifest_key(manifest_key):
            raise ValueError(f"{manifest_key!r} is not a drop manifest key")
        return cls(bucket=bucket, manifest_key=manifest_key, etag=normalize_etag(etag))


def session_id_of_workflow(workflow_id: str) -> str:
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
