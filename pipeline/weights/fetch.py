"""Fetching one weight file into a ``.part`` file, resuming what an earlier try left.

Two kinds of source, chosen by the URL's scheme:

- ``http(s)://``: a streaming GET through httpx with ``Range: bytes={have}-`` when a part
  exists (RFC 9110 §14). 206 appends; a server that ignores the range answers 200 and the
  part starts over. A Hugging Face URL gets ``Authorization: Bearer $HF_TOKEN`` when set;
  httpx drops it on a redirect to another origin (the CDN).
- ``s3://bucket/key``: a ranged ``GetObject`` through the project's S3 client (the
  ``R2_*`` endpoint and credentials), so an R2 or MinIO mirror works like the hub.

``fetch_part`` returns the part's sha256 and size; it raises ``SourceError`` when the source
fails or ends early, leaving the part for the next try to resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.domain.errors import SourceError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

CHUNK = 1024 * 1024
ProgressFn = Callable[[int], None]
"""Called with the number of bytes just written."""


_TRANSIENT_STATUS = frozenset({408, 425, 429})


@dataclass
class Opened:
    """A response body and where it starts in the file."""

    start: int
    """Offset of the first byte: the requested one, or 0 when the source ignored the range."""
    total: int | None
    """The whole file's size, when the source said."""
    chunks: Iterator[bytes]


class Source(Protocol):
    def open(self, url: str, start: int) -> AbstractContextManager[Opened]:
        """The bytes of ``url`` from ``start`` on; ``Opened.start == start`` when resuming."""
        ...


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes 100-199/1000`` → (100, 1000); ``bytes 100-199/*`` → (100, None)."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[len("bytes ") :].partition("/")
    first = span.partition("-")[0]
    if not first.isdigit():
        return None
    return int(first), int(total) if total.isdigit() else None


class HttpSource:
    """HTTP(S) URLs through one ``httpx.Client`` (redirects followed)."""

    def __init__(self, client: httpx.Client, hf_token: str | None = None) -> None:
        self.client = client
        self.hf_token = hf_token

    def _headers(self, url: str, start: int) -> dict[str, str]:
        # Byte ranges count stored bytes: ask for them as stored, never re-encoded.
        headers = {"Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        host = urlsplit(url).hostname or ""
        if self.hf_token and (host == "huggingface.co" or host.endswith(".huggingface.co")):
            headers["Authorization"] = f"Bearer {self.hf_token}"
        return headers

    @contextmanager
    def open(self, url: str, start: int) -> Iterator[Opened]:
        try:
            with self.client.stream(
                "GET", url, headers=self._headers(url, start), follow_redirects=True
            ) as response:
                if response.status_code == 416:
                    yield Opened(start, start, iter(()))
                    return
                if response.status_code == 206:
                    span = _content_range(response.headers.get("content-range"))
                    if span is None:
                        raise SourceError(f"{url}: 206 without a usable Content-Range")
                    yield Opened(span[0], span[1], response.iter_raw())
                    return
                if response.status_code != 200:
                    status = response.status_code
                    raise SourceError(
                        f"{url}: HTTP {status}",
                        permanent=400 <= status < 500 and status not in _TRANSIENT_STATUS,
                    )
                length = response.headers.get("content-length")
                total = int(length) if length and length.isdigit() else None
                yield Opened(0, total, response.iter_raw())
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: {type(exc).__name__}: {exc}") from exc


class S3Source:
    """``s3://bucket/key`` URLs through a boto3 S3 client."""

    def __init__(self, client: S3Client) -> None:
        self.client = client

    @contextmanager
    def open(self, url: str, start: int) -> Iterator[Opened]:
        parts = urlsplit(url)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        if not bucket or not key:
            raise SourceError(f"{url}: expected s3://bucket/key")
        extra: dict[str, Any] = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = self.client.get_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "InvalidRange":
                yield Opened(start, start, iter(()))
                return
            raise SourceError(
                f"{url}: {code}", permanent=code in {"NoSuchKey", "NoSuchBucket", "AccessDenied"}
            ) from exc
        except BotoCoreError as exc:
            raise SourceError(f"{url}: {exc}") from exc
        span = _content_range(response.get("ContentRange"))
        begin, total = span if span else (0, response["ContentLength"])
        body = response["Body"]
        try:
            yield Opened(begin, total, _s3_chunks(url, body))
        finally:
            body.close()


def _s3_chunks(url: str, body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    except (BotoCoreError, OSError) as exc:
        raise SourceError(f"{url}: transfer failed: {exc}") from exc


class Sources:
    """The source for each URL scheme."""

    def __init__(self, http: HttpSource, s3: Callable[[], S3Source]) -> None:
        self.http = http
        self._s3_factory = s3
        self._s3: S3Source | None = None

    def for_url(self, url: str) -> Source:
        if url.startswith("s3://"):
            if self._s3 is None:
                self._s3 = self._s3_factory()
            return self._s3
        return self.http


def hash_file(path: Path, progress: ProgressFn | None = None) -> tuple[str, int]:
    """sha256 (hex) and size of ``path``, read in chunks (``progress`` hears each one)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return digest.hexdigest(), path.stat().st_size


def fetch_part(
    source: Source, url: str, part: Path, expected_size: int | None, progress: ProgressFn
) -> tuple[str, int]:
    """Complete ``part`` from ``url`` (resuming it); returns its sha256 and size.

    ``expected_size`` (the lock's, when pinned) lets a complete part skip the request and a
    source serving a different size be refused. ``SourceError`` leaves the part in place.
    """
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    digest = hashlib.sha256()
    if have:
        with part.open("rb") as existing:
            while chunk := existing.read(CHUNK):
                digest.update(chunk)
        progress(have)
    if expected_size is not None and have == expected_size:
        return digest.hexdigest(), have
    with source.open(url, have) as opened:
        if opened.total is not None and expected_size is not None and opened.total != expected_size:
            raise SourceError(
                f"{url}: serves {opened.total} bytes, the lockfile says {expected_size}",
                permanent=True,
            )
        if opened.start != have:
            progress(-have)
            digest, have = hashlib.sha256(), 0
        with part.open("ab" if have else "wb") as out:
            for chunk in opened.chunks:
                out.write(chunk)
                digest.update(chunk)
                progress(len(chunk))
                have += len(chunk)
        total = opened.total
    if total is not None and have != total:
        raise SourceError(f"{url}: transfer ended at {have} of {total} bytes")
    return digest.hexdigest(), have
