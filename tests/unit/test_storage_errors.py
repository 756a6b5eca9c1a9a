"""Every botocore failure leaves ``ObjectStore`` as ``StorageError``, never as its own type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, cast

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from pipeline.config import load_settings
from pipeline.domain.errors import StorageError
from pipeline.storage import ObjectStore, credentials_refused, failure_code, storage_error


class _FailingClient:
    """An S3 client whose every call raises ``error``, as botocore does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, operation: str) -> Callable[..., Awaitable[NoReturn]]:
        async def call(**_: object) -> NoReturn:
            raise self.error

        return call


def _store(client: object) -> ObjectStore:
    store = ObjectStore(load_settings())
    store._client = cast(Any, client)
    return store


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "HeadObject")


UNREACHABLE = EndpointConnectionError(endpoint_url="http://127.0.0.1:9/wan-pipeline/k")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UNREACHABLE, "EndpointConnectionError"),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9/"), "ReadTimeoutError"),
        (_client_error("AccessDenied"), "AccessDenied"),
    ],
)
@pytest.mark.parametrize("operation", ["head", "get_bytes", "put_bytes", "copy", "download"])
async def test_botocore_failures_become_retryable_storage_errors(
    error: Exception, code: str, operation: str, tmp_path: Any
) -> None:
    store = _store(_FailingClient(error))
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "head": lambda: store.head("inbox/a/manifest.json"),
        "get_bytes": lambda: store.get_bytes("inbox/a/manifest.json"),
        "put_bytes": lambda: store.put_bytes("sessions/a/plan.json", b"{}"),
        "copy": lambda: store.copy("inbox/a/x.png", "sessions/a/x.png"),
        "download": lambda: store.download("inbox/a/x.png", tmp_path / "x.png"),
    }

    with pytest.raises(StorageError) as caught:
        await calls[operation]()

    assert caught.value.detail["code"] == code
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, type(error))


async def test_listing_an_unreachable_store_raises_storage_error() -> None:
    store = _store(_ListingClient(UNREACHABLE))

    with pytest.raises(StorageError, match="EndpointConnectionError"):
        [meta async for meta in store.list_keys("inbox/")]


async def test_a_missing_object_is_none_not_an_error() -> None:
    store = _store(_FailingClient(_client_error("NoSuchKey")))

    assert await store.head("inbox/a/manifest.json") is None
    assert await store.get_bytes("inbox/a/manifest.json") is None


class _ListingClient:
    """``get_paginator`` whose pages fail the way aiobotocore's do: on the first ``anext``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_paginator(self, _operation: str) -> _ListingClient:
        return self

    async def paginate(self, **_: object) -> Any:
        raise self.error
        yield  # an async generator, like aiobotocore's page iterator


@pytest.mark.parametrize("code", ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"])
def test_refused_credentials_are_told_apart_however_they_arrive(code: str) -> None:
    answered = _client_error(code)
    try:  # boto3's upload_file wraps the answer as S3UploadFailedError (its context)
        try:
            raise answered
        except ClientError as exc:
            raise S3UploadFailedError(f"Failed to upload a.png: {exc}") from None
    except S3UploadFailedError as wrapped:
        upload_failure = wrapped
    upload_failure.__context__ = answered

    for failure in (answered, storage_error("put", "k", answered), upload_failure):
        assert failure_code(failure) == code
        assert credentials_refused(failure)


def test_no_answer_has_no_code_and_other_answers_are_not_refusals() -> None:
    unreachable = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert failure_code(storage_error("get", "k", unreachable)) is None
    assert failure_code(unreachable) is None
    assert failure_code(storage_error("put", "k", _client_error("InternalError"))) == (
        "InternalError"
    )
    assert not credentials_refused(_client_error("NoSuchBucket"))
