"""``take_drop`` against a real S3 API (the session's SeaweedFS): crashes and replaced manifests.

A crash is a store whose deletes fail from some point on, as a worker killed between the
copies and the deletes leaves the bucket; the retry runs with a healthy store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.intake import IntakeActivities
from pipeline.domain.contracts import TakeDropInput, TakenDrop
from pipeline.domain.drop import DropRef
from pipeline.domain.errors import StorageError
from pipeline.domain.layout import SessionLayout
from pipeline.storage import ObjectStore
from tests.conftest import S3Bucket

pytestmark = pytest.mark.integration

IMAGE, AUDIO = b"\x89PNG image bytes", b"RIFF audio bytes"


@pytest_asyncio.fixture(loop_scope="session")
async def store(s3_bucket: S3Bucket) -> AsyncIterator[ObjectStore]:
    async with ObjectStore(s3_bucket.settings()) as opened:
        yield opened


async def put_drop(store: ObjectStore, manifest: dict[str, object]) -> tuple[DropRef, str]:
    """Media first, then the manifest, as users upload; returns the drop and its folder."""
    folder = f"inbox/intake-{uuid.uuid4().hex[:8]}/"
    await store.put_bytes(folder + "face.png", IMAGE)
    await store.put_bytes(folder + "voice.wav", AUDIO)
    etag = await store.put_bytes(folder + "manifest.json", json.dumps(manifest).encode())
    return DropRef.of(store.bucket, folder + "manifest.json", etag), folder


S2V: dict[str, object] = {"kind": "s2v", "image": "face.png", "audio": "voice.wav"}


async def keys_under(store: ObjectStore, prefix: str) -> list[str]:
    return sorted([meta.key async for meta in store.list_keys(prefix)])


async def take(store: ObjectStore, drop: DropRef) -> TakenDrop:
    request = TakeDropInput(drop=drop, session_id=drop.session_id)
    return await ActivityEnvironment().run(IntakeActivities(store).take_drop, request)


def crash_after_deleting(store: ObjectStore, deleted: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deletes succeed for the first ``deleted`` keys, then the worker 'dies'."""
    delete_version = store.delete_version
    done: list[str] = []

    async def crashing(key: str, etag: str) -> bool:
        if len(done) >= deleted:
            raise StorageError("worker killed mid-move")
        done.append(key)
        return await delete_version(key, etag)

    monkeypatch.setattr(store, "delete_version", crashing)


async def assert_taken(store: ObjectStore, drop: DropRef, folder: str, taken: TakenDrop) -> None:
    layout = SessionLayout(drop.session_id)
    assert taken.inputs == {"image": layout.input("face.png"), "audio": layout.input("voice.wav")}
    assert await store.get_bytes(layout.input("face.png")) == IMAGE
    assert await store.get_bytes(layout.input("voice.wav")) == AUDIO
    assert json.loads(await store.get_bytes(layout.manifest) or b"") == S2V
    assert await keys_under(store, folder) == []


@pytest.mark.parametrize("deleted", [0, 1, 2], ids=["no-deletes", "one-delete", "media-deleted"])
async def test_a_retry_after_a_crash_mid_move_completes_it_and_loses_nothing(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch, deleted: int
) -> None:
    drop, folder = await put_drop(store, S2V)
    with monkeypatch.context() as patch:
        crash_after_deleting(store, deleted, patch)
        with pytest.raises(ApplicationError) as crashed:
            await take(store, drop)
    assert crashed.value.type == "storage"
    assert not crashed.value.non_retryable
    assert await store.head(drop.manifest_key) is not None  # the manifest is deleted last

    await assert_taken(store, drop, folder, await take(store, drop))
    await assert_taken(store, drop, folder, await take(store, drop))  # and again: idempotent


async def test_a_manifest_replaced_before_the_take_is_left_for_its_own_session(
    store: ObjectStore,
) -> None:
    old, folder = await put_drop(store, S2V)
    newer: dict[str, object] = {**S2V, "prompt": "a newer upload"}
    new_etag = await store.put_bytes(old.manifest_key, json.dumps(newer).encode())
    with pytest.raises(ApplicationError) as refused:
        await take(store, old)
    assert (refused.value.type, refused.value.non_retryable) == ("bad_manifest", True)
    assert "replaced by a newer upload" in refused.value.message
    assert json.loads(await store.get_bytes(old.manifest_key) or b"") == newer
    assert await keys_under(store, folder) == [
        folder + name for name in ("face.png", "manifest.json", "voice.wav")
    ]

    new = DropRef.of(store.bucket, old.manifest_key, new_etag)
    taken = await take(store, new)
    assert taken.manifest.prompt == "a newer upload"
    assert await keys_under(store, folder) == []


async def test_a_manifest_replaced_after_a_crash_is_neither_consumed_nor_deleted(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, folder = await put_drop(store, S2V)
    with monkeypatch.context() as patch:
        crash_after_deleting(store, 0, patch)
        with pytest.raises(ApplicationError):
            await take(store, old)
    newer: dict[str, object] = {**S2V, "prompt": "a newer upload"}
    new_etag = await store.put_bytes(old.manifest_key, json.dumps(newer).encode())

    retried = await take(store, old)
    assert retried.manifest.prompt != "a newer upload"
    layout = SessionLayout(old.session_id)
    assert json.loads(await store.get_bytes(layout.manifest) or b"") == S2V
    assert json.loads(await store.get_bytes(old.manifest_key) or b"") == newer

    new = DropRef.of(store.bucket, old.manifest_key, new_etag)
    taken = await take(store, new)
    assert taken.manifest.prompt == "a newer upload"
    new_layout = SessionLayout(new.session_id)
    assert await store.get_bytes(new_layout.input("face.png")) == IMAGE
    assert await store.get_bytes(new_layout.input("voice.wav")) == AUDIO
    assert await keys_under(store, folder) == []
