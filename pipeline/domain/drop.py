"""A drop's identity: which manifest version of which bucket a session belongs to. Pure.

The session id (and so the workflow id) is derived from bucket + manifest key + ETag, so
every event source that sees the same upload computes the same id, a replayed event maps
onto the session it already started, and a changed manifest (new ETag) is a new session.

The same bytes uploaded again after their session finished (``docs/manifest.md``'s "fix the media,
upload the manifest again") are a new upload, not a replay: the finished session took
its manifest out of the inbox, so a manifest with that ETag back in the inbox was put
there since. That upload is identified by the object's own ``LastModified`` as well
(``uploaded_at``), which every source reads from the store alike.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from pipeline.domain.layout import drop_name, is_manifest_key

WORKFLOW_ID_PREFIX = "session-"
RERENDER_ID_PREFIX = "rerender-"
"""``rerender-{session id}-{yyyymmddHHMMSS}``: a ``pipeline rerender`` of one session."""
CALLBACK_ID_PREFIX = "callback-"
"""``callback-{session id}-{run id}``: the completion callback of one session workflow run."""
_RUN_ID_TAIL = re.compile(r"-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
RERUN_ID_PREFIX = "rerun-"
"""``rerun-{batch id}-{session id}``: a reprocessing batch's rerun of one session (batch ids
have no ``-``: ``b{time}{hex}``, or a schedule's name with only letters and digits kept)."""
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
    uploaded_at: datetime | None = None
    """Set only for bytes uploaded again after an earlier session of them finished."""

    @property
    def session_id(self) -> str:
        """``{slug of the drop name}-{16 hex}``: readable in listings, unique per upload."""
        parts = [self.bucket, self.manifest_key, normalize_etag(self.etag)]
        if self.uploaded_at is not None:
            parts.append(self.uploaded_at.isoformat())
        digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:_HASH_CHARS]
        slug = _SLUG_UNSAFE.sub("-", drop_name(self.manifest_key).lower()).strip("-")
        slug = slug[:_SLUG_MAX].rstrip("-")
        return f"{slug}-{digest}" if slug else digest

    @property
    def workflow_id(self) -> str:
        return WORKFLOW_ID_PREFIX + self.session_id

    def uploaded_again(self, uploaded_at: datetime) -> DropRef:
        """The same manifest bytes, put again at ``uploaded_at`` (the object's LastModified).

        Whole UTC seconds: HTTP's ``Last-Modified`` (HEAD) has no finer precision than that,
        while listings give milliseconds, and every source must compute the same id.
        """
        instant = uploaded_at.astimezone(UTC).replace(microsecond=0)
        return self.model_copy(update={"uploaded_at": instant})

    @classmethod
    def of(cls, bucket: str, manifest_key: str, etag: str) -> DropRef:
        if not is_manifest_key(manifest_key):
            raise ValueError(f"{manifest_key!r} is not a drop manifest key")
        return cls(bucket=bucket, manifest_key=manifest_key, etag=normalize_etag(etag))


def session_id_of_workflow(workflow_id: str) -> str:
    """The session a session workflow (``session-{id}``), a rerender (``rerender-{id}-…``),
    a batch's rerun of it (``rerun-{batch}-{id}``) or its completion callback
    (``callback-{id}-{run id}``) runs."""
    if workflow_id.startswith(CALLBACK_ID_PREFIX):
        return _RUN_ID_TAIL.sub("", workflow_id.removeprefix(CALLBACK_ID_PREFIX))
    if workflow_id.startswith(RERENDER_ID_PREFIX):
        return workflow_id.removeprefix(RERENDER_ID_PREFIX).rsplit("-", 1)[0]
    if workflow_id.startswith(RERUN_ID_PREFIX):
        return workflow_id.removeprefix(RERUN_ID_PREFIX).split("-", 1)[-1]
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


def callback_workflow_id(session_id: str, run_id: str) -> str:
    """The id of the completion callback of the session workflow run ``run_id`` (a UUID,
    as Temporal gives run ids) of ``session_id``: one per session end."""
    return f"{CALLBACK_ID_PREFIX}{session_id}-{run_id}"


def rerun_workflow_id(batch_id: str, session_id: str) -> str:
    """The id of batch ``batch_id``'s rerun of ``session_id``."""
    return f"{RERUN_ID_PREFIX}{batch_id}-{session_id}"


def rerender_workflow_id(session_id: str, at: datetime) -> str:
    """The id of the rerender of ``session_id`` started at ``at`` (to the second, UTC)."""
    return f"{RERENDER_ID_PREFIX}{session_id}-{at.astimezone(UTC):%Y%m%d%H%M%S}"
