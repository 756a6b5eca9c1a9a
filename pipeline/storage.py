"""Object storage: one async ``ObjectStore`` over aiobotocore, for R2 or any S3 endpoint.

Media moves between the bucket and disk in chunks (multipart above ``MULTIPART_THRESHOLD``),
never whole in memory. ``client_kwargs`` is shared with the sync boto3 clients the CLI uses.
Every botocore failure, an answer (``ClientError``) or none at all (``BotoCoreError``: the
endpoint is down, a read timed out), leaves this module as ``StorageError``; a read or copy
of a key the bucket does not hold (``NoSuchKey``, 404) as its ``ObjectMissing``, wherever it
happens (``stream``, ``download``, ``copy``). ``head`` and ``get_bytes`` answer ``None``
instead: they are how a caller asks whether a key is there yet.

Conditional operations, as each store honours them: measured for SeaweedFS 4.48 and moto
5.2; S3 from AWS's conditional requests guide (conditional deletes since 2025-09); R2 from
its S3 API compatibility table (https://developers.cloudflare.com/r2/api/s3/api/), which
lists If-Match for GetObject/HeadObject and x-amz-copy-source-if-match for CopyObject, and
no conditional DeleteObject:

=====================  ===  ===  =========  ====
header                 S3   R2   SeaweedFS  moto
=====================  ===  ===  =========  ====
GET/HEAD If-Match      yes  yes  yes        yes
copy-source-if-match   yes  yes  yes        no
DELETE If-Match        yes  no   yes        yes
=====================  ===  ===  =========  ====

so every conditional call is also checked on the ETag the store answers with, and a
delete is preceded by an ETag check (``delete_version``).
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import quote

import aiofiles
import boto3
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.config import Settings
from pipeline.domain.errors import ObjectChanged, ObjectMissing, StorageError
from pipeline.domain.layout import output_name
from pipeline.domain.retention import Applied, Upload, merged, outcome

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client as AsyncS3Client
    from types_boto3_s3 import S3Client

T = TypeVar("T")

CHUNK = 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
MULTIPART_THRESHOLD = 2 * PART_SIZE
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CHANGED = frozenset({"412", "PreconditionFailed"})
REFUSED_CODES = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)
"""S3 error codes (and HEAD's bare status) of a store that answered but refused the
credentials: S3's and R2's error-code tables; a HEAD has no body, so only its 403."""
NO_BUCKET_CODES = frozenset({"NoSuchBucket"})


# Path-style works on R2, SeaweedFS, MinIO and moto alike; R2 rejects the newer default checksums.
_CLIENT_CONFIG: dict[str, Any] = {
    "s3": {"addressing_style": "path"},
    "signature_version": "s3v4",
    "retries": {"max_attempts": 5, "mode": "standard"},
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


def client_kwargs(settings: Settings, *, aio: bool) -> dict[str, Any]:
    """Credentials, region and client config shared by every S3/SQS client we create."""
    return {
        "aws_access_key_id": settings.r2_access_key_id,
        "aws_secret_access_key": settings.r2_secret_access_key.get_secret_value(),
        "region_name": settings.r2_region,
        "config": AioConfig(**_CLIENT_CONFIG) if aio else Config(**_CLIENT_CONFIG),
    }


def sync_client(settings: Settings, service: str = "s3") -> Any:
    """A boto3 client (``s3`` or ``sqs``) for code where sync is simpler (CLI, set-up)."""
    endpoint = settings.s3_endpoint if service == "s3" else settings.event_queue_endpoint
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint, **client_kwargs(settings, aio=False)
    )


def sync_s3(settings: Settings) -> S3Client:
    client: S3Client = sync_client(settings, "s3")
    return client


def content_type_for(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


def storage_error(action: str, key: str, exc: ClientError | BotoCoreError) -> StorageError:
    """``StorageError`` for a botocore failure; ``detail["code"]`` is S3's error code
    (``AccessDenied``, ``SlowDown``) or, with no answer, botocore's class name
    (``EndpointConnectionError``, ``ReadTimeoutError``); ``detail["answered"]`` says which.
    A missing key is ``ObjectMissing``."""
    if isinstance(exc, ClientError) and is_missing(exc):
        return ObjectMissing(key, action)
    answered = isinstance(exc, ClientError)
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code"))
    else:
        code = type(exc).__name__
    return StorageError(
        f"{action} {key!r} failed: {code}: {exc}", detail={"code": code, "answered": answered}
    )


def failure_code(exc: BaseException) -> str | None:
    """The S3 error code behind ``exc``, if the store answered: a ``ClientError``'s own, a
    ``StorageError``'s ``detail["code"]``, or that of a ``ClientError`` it was raised from
    (boto3's ``S3UploadFailedError`` wraps one). ``None`` when no store answered."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            return str(current.response.get("Error", {}).get("Code"))
        if isinstance(current, StorageError) and current.detail.get("answered"):
            return str(current.detail["code"])
        current = current.__cause__ or current.__context__
    return None


def credentials_refused(exc: BaseException) -> bool:
    """Whether the store answered ``exc`` by refusing the credentials (``REFUSED_CODES``)."""
    return failure_code(exc) in REFUSED_CODES


def is_changed(exc: ClientError) -> bool:
    """A precondition (``If-Match``) failed: the object is no longer the version named."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in _CHANGED or status == 412


def _quoted(etag: str) -> str:
    return '"' + etag.strip().strip('"') + '"'


DELETE_BATCH = 1000
"""Keys per ``DeleteObjects`` request: S3's maximum (R2's too)."""


@dataclass(frozen=True)
class ObjectMeta:
    key: str
    size: int
    etag: str
    """Bare (unquoted)."""
    last_modified: datetime | None = None


class ObjectStore:
    """The pipeline's bucket. Use ``async with ObjectStore(settings) as store``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bucket = settings.r2_bucket_name
        self._stack = AsyncExitStack()
        self._client: AsyncS3Client | None = None

    async def __aenter__(self) -> Self:
        session = get_session()
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=self.settings.s3_endpoint,
                **client_kwargs(self.settings, aio=True),
            )
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        self._client = None

    @property
    def client(self) -> AsyncS3Client:
        if self._client is None:
            raise RuntimeError("ObjectStore used outside 'async with'")
        return self._client

    @asynccontextmanager
    async def _errors(self, action: str, key: str) -> AsyncIterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(action, key, exc) from exc

    async def _unless_missing(self, action: str, key: str, call: Awaitable[T]) -> T | None:
        """``await call``; ``None`` if the object is missing, ``StorageError`` on any failure."""
        try:
            return await call
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise storage_error(action, key, exc) from exc
        except BotoCoreError as exc:
            raise storage_error(action, key, exc) from exc

    async def head(self, key: str) -> ObjectMeta | None:
        response = await self._unless_missing(
            "head", key, self.client.head_object(Bucket=self.bucket, Key=key)
        )
        if response is None:
            return None
        return ObjectMeta(
            key,
            response["ContentLength"],
            response["ETag"].strip('"'),
            response.get("LastModified"),
        )

    async def get_bytes(self, key: str, *, if_match: str | None = None) -> bytes | None:
        """Small objects only (manifests, JSON); ``None`` when the object is missing.

        With ``if_match`` (an ETag) the read is conditional (``If-Match``), and the answer's
        ETag is compared too: ``ObjectChanged`` when the key holds another version.
        """
        extra: dict[str, Any] = {} if if_match is None else {"IfMatch": _quoted(if_match)}
        try:
            response = await self._unless_missing(
                "get", key, self.client.get_object(Bucket=self.bucket, Key=key, **extra)
            )
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and is_changed(cause):
                raise ObjectChanged(f"{key!r} is no longer version {if_match}") from cause
            raise
        if response is None:
            return None
        answered = str(response.get("ETag", "")).strip('"').lower()
        if if_match is not None and answered and answered != if_match.strip('"').lower():
            raise ObjectChanged(f"{key!r} is no longer version {if_match}")
        async with self._errors("get", key), response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def get_json(self, key: str) -> Any | None:
        data = await self.get_bytes(key)
        return None if data is None else json.loads(data)

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        async with self._errors("put", key):
            response = await self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type or content_type_for(key),
            )
        return response["ETag"].strip('"')

    async def put_json(self, key: str, document: Any) -> str:
        body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
        return await self.put_bytes(key, body, "application/json")

    async def copy(self, source: str, destination: str, *, if_match: str | None = None) -> None:
        """Server-side copy; with ``if_match``, only of that version of ``source``.

        The condition is sent as ``x-amz-copy-source-if-match`` and checked again on the
        copy's ETag wherever an ETag is the content's MD5 (single-part uploads), so a store
        that ignores the header (moto) still never passes off a newer object as the one
        named: ``ObjectChanged`` either way.
        """
        extra: dict[str, Any] = {}
        if if_match is not None:
            extra["CopySourceIfMatch"] = _quoted(if_match)
        try:
            response = await self.client.copy_object(
                Bucket=self.bucket,
                Key=destination,
                CopySource={"Bucket": self.bucket, "Key": source},
                **extra,
            )
        except ClientError as exc:
            if is_changed(exc):
                raise ObjectChanged(f"{source!r} is no longer version {if_match}") from exc
            raise storage_error("copy", source, exc) from exc
        except BotoCoreError as exc:
            raise storage_error("copy", source, exc) from exc
        copied = str(response.get("CopyObjectResult", {}).get("ETag", "")).strip('"')
        expected = (if_match or "").strip('"')
        if if_match is not None and "-" not in expected and copied and copied != expected:
            await self.delete(destination)
            raise ObjectChanged(f"{source!r} changed while it was copied")

    async def delete(self, *keys: str) -> None:
        for key in keys:
            async with self._errors("delete", key):
                await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def delete_version(self, key: str, etag: str) -> bool:
        """Delete ``key`` only while it still holds ``etag``; whether it was deleted.

        A newer object under the key is never deleted. The delete is sent with ``If-Match``
        (S3 since 2025-09, SeaweedFS and moto honour it; R2 offers no conditional
        DeleteObject), after a HEAD that compares the ETag, so on a store that ignores the
        header only a write landing between the HEAD and the DELETE (milliseconds) could
        still be lost, not one landing at any time before.
        """
        current = await self.head(key)
        if current is None or current.etag.lower() != etag.strip('"').lower():
            return False
        try:
            await self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=_quoted(etag))
        except ClientError as exc:
            if is_changed(exc):
                return False
            if is_missing(exc):
                return False
            raise storage_error("delete", key, exc) from exc
        except BotoCoreError as exc:
            raise storage_error("delete", key, exc) from exc
        return True

    async def delete_batch(self, keys: list[str]) -> None:
        """Delete up to ``DELETE_BATCH`` keys in one ``DeleteObjects`` request; a key already
        gone counts as deleted. ``StorageError`` naming the first key the store refused."""
        if len(keys) > DELETE_BATCH:
            raise ValueError(f"at most {DELETE_BATCH} keys per batch, not {len(keys)}")
        if not keys:
            return
        async with self._errors("delete", keys[0]):
            answer = await self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        refused = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
        if refused:
            first = refused[0]
            raise StorageError(
                f"could not delete {first.get('Key')}: {first.get('Message') or first.get('Code')}"
                f" ({len(refused)} of {len(keys)} refused)",
                detail={"code": first.get("Code"), "key": first.get("Key")},
            )

    async def list_uploads(self) -> AsyncIterator[Upload]:
        """Multipart uploads begun and neither completed nor aborted (ListMultipartUploads)."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        pages = aiter(paginator.paginate(Bucket=self.bucket))
        while True:
            async with self._errors("list uploads in", self.bucket):
                page = await anext(pages, None)
            if page is None:
                return
            for item in page.get("Uploads", []):
                yield Upload(item["Key"], item["UploadId"], item["Initiated"])

    async def abort_upload(self, upload: Upload) -> None:
        """Abort ``upload``, freeing its parts; one already gone is no error."""
        try:
            await self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchUpload", *_MISSING):
                return
            raise storage_error("abort upload of", upload.key, exc) from exc
        except BotoCoreError as exc:
            raise storage_error("abort upload of", upload.key, exc) from exc

    async def list_keys(self, prefix: str) -> AsyncIterator[ObjectMeta]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = aiter(paginator.paginate(Bucket=self.bucket, Prefix=prefix))
        while True:
            async with self._errors("list", prefix):
                page = await anext(pages, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                yield ObjectMeta(
                    item["Key"], item["Size"], item["ETag"].strip('"'), item.get("LastModified")
                )

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most ``CHUNK``, never whole in memory."""
        async with self._errors("get", key):
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                async for chunk in body.iter_chunks(CHUNK):
                    yield chunk

    async def download(self, key: str, path: Path) -> int:
        """Stream an object to ``path``; returns its size."""
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        async with aiofiles.open(path, "wb") as out:
            async for chunk in self.stream(key):
                await out.write(chunk)
                size += len(chunk)
        return size

    async def upload(self, path: Path, key: str, content_type: str | None = None) -> str:
        """Stream a file to ``key`` (multipart when large); returns the ETag."""
        return await self.upload_stream(key, _file_chunks(path), content_type)

    async def upload_stream(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str | None = None
    ) -> str:
        """Upload a byte stream of unknown length, buffering at most one part in memory."""
        content_type = content_type or content_type_for(key)
        buffer = bytearray()
        iterator = aiter(chunks)
        async for chunk in iterator:
            buffer += chunk
            if len(buffer) >= MULTIPART_THRESHOLD:
                return await self._multipart(key, buffer, iterator, content_type)
        return await self.put_bytes(key, bytes(buffer), content_type)

    async def _multipart(
        self, key: str, buffer: bytearray, rest: AsyncIterator[bytes], content_type: str
    ) -> str:
        async with self._errors("upload", key):
            upload = await self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type
            )
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in rest:
                buffer += chunk
                while len(buffer) >= PART_SIZE:
                    parts.append(await self._part(key, upload_id, len(parts) + 1, buffer))
            if buffer or not parts:
                parts.append(await self._part(key, upload_id, len(parts) + 1, buffer))
            async with self._errors("complete upload", key):
                done = await self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
        except BaseException:
            # The upload's own failure is the one to report, not a failed abort's.
            with contextlib.suppress(ClientError, BotoCoreError):
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            raise
        return str(done["ETag"]).strip('"')

    async def _part(
        self, key: str, upload_id: str, number: int, buffer: bytearray
    ) -> dict[str, Any]:
        body = bytes(buffer[:PART_SIZE])
        del buffer[:PART_SIZE]
        async with self._errors("upload part of", key):
            response = await self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def url_for(self, key: str) -> str:
        """A URL a plain HTTP GET can fetch: the public bucket URL (``lasting_url``), else a
        presigned one, which stops working at ``url_expiry``."""
        lasting = self.lasting_url(key)
        if lasting is not None:
            return lasting
        async with self._errors("presign", key):
            url: str = await self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self.settings.presign_expiry_s,
            )
        return url

    def lasting_url(self, key: str) -> str | None:
        """The key's URL under ``R2_PUBLIC_URL`` (the key percent-encoded, ``/`` kept), which
        does not expire, for an output ``PUBLIC_OUTPUTS`` lists
        (``pipeline.domain.layout.output_name``); ``None`` for every other key (inputs and
        intermediate files never are public) and when ``R2_PUBLIC_URL`` is unset."""
        if self.settings.r2_public_url is None:
            return None
        if output_name(key) not in self.settings.public_output_names:
            return None
        return f"{str(self.settings.r2_public_url).rstrip('/')}/{quote(key, safe='/')}"

    def url_expiry(self, minted_at: datetime) -> datetime:
        """When the presigned URLs ``url_for`` mints from ``minted_at`` on stop working:
        ``minted_at`` in whole seconds (SigV4's ``X-Amz-Date``) + ``PRESIGN_EXPIRY_S`` (the
        ``X-Amz-Expires`` boto3 signs them with): never later than the first of them stops."""
        signed = minted_at.replace(microsecond=0)
        return signed + timedelta(seconds=self.settings.presign_expiry_s)

    async def links(self, keys: Mapping[str, str]) -> Links:
        """A fresh URL of each named key (``url_for``), the names whose URL is public, and
        when the presigned others stop working (the clock is read before the first is
        signed)."""
        minted = datetime.now(UTC)
        urls = {name: await self.url_for(key) for name, key in keys.items()}
        public = [name for name, key in keys.items() if self.lasting_url(key) is not None]
        presigned = len(public) < len(keys)
        return Links(
            urls=urls, public=public, expires_at=self.url_expiry(minted) if presigned else None
        )


@dataclass(frozen=True)
class Links:
    """What ``ObjectStore.links`` minted."""

    urls: dict[str, str]
    """Name → URL."""
    public: list[str]
    """The names whose URL is under ``R2_PUBLIC_URL`` and does not expire."""
    expires_at: datetime | None
    """When the other (presigned) URLs stop working; ``None`` when there are none."""


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with aiofiles.open(path, "rb") as source:
        while chunk := await source.read(CHUNK):
            yield chunk


_NO_LIFECYCLE = frozenset({"NoSuchLifecycleConfiguration"})


def lifecycle_rules_in_force(client: S3Client, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules as the store reads them back; ``[]`` when it has none
    (``NoSuchLifecycleConfiguration``). ``StorageError`` on any other failure, with the
    store's code in ``detail["code"]`` (``NotImplemented`` where it has no lifecycle API)."""
    try:
        answer = client.get_bucket_lifecycle_configuration(Bucket=bucket)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _NO_LIFECYCLE:
            return []
        raise storage_error("read lifecycle of", bucket, exc) from exc
    except BotoCoreError as exc:
        raise storage_error("read lifecycle of", bucket, exc) from exc
    return [dict(rule) for rule in answer.get("Rules", [])]


def apply_lifecycle(settings: Settings, wanted: list[dict[str, Any]]) -> Applied:
    """Make the pipeline's lifecycle rules (``pipeline.domain.retention``) those in force
    on the bucket, keeping every other rule; a no-op (``unchanged``) when they already are.

    With no rule left to keep the configuration is deleted, since S3 refuses an empty one.
    ``StorageError`` (``detail["code"]``) when the store refuses to read or write it.
    """
    return put_lifecycle(sync_s3(settings), settings.r2_bucket_name, wanted)


def put_lifecycle(client: S3Client, bucket: str, wanted: list[dict[str, Any]]) -> Applied:
    """``apply_lifecycle`` through a client already made (the embedded stack's own)."""
    in_force = lifecycle_rules_in_force(client, bucket)
    result = outcome(in_force, wanted)
    if result is Applied.UNCHANGED:
        return result
    rules = merged(in_force, wanted)
    try:
        if rules:
            client.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={"Rules": rules},  # type: ignore[typeddict-item]
            )
        else:
            client.delete_bucket_lifecycle(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        raise storage_error("write lifecycle of", bucket, exc) from exc
    return result
