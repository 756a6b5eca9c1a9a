"""Each upload's session handles exactly its own bytes (a real S3 API: moto server).

The manifest-rewritten-quickly case: a FUSE mount writes an empty manifest, then the real
one; each of the two uploads' sessions must handle only its own version, and the real
manifest must survive the empty upload's session whatever the order.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.intake import IntakeActivities
from pipeline.domain.contracts import TakeDropInput, TakenDrop
from pipeline.domain.drop import DropRef
from pipeline.domain.errors import ObjectChanged
from pipeline.domain.layout import SessionLayout
from pipeline.ingest.starter import StartOutcome
from pipeline.storage import ObjectStore
from tests.conftest import TemporalServer
from tests.integration.ingest_support import IngestEnv, ingest_env, session_workflows

pytestmark = pytest.mark.integration

REAL = json.dumps({"kind": "i2v", "image": "face.png"}).encode()


@pytest_asyncio.fixture(loop_scope="session")
async def env(
    moto_server: str, temporal_server: TemporalServer, temporal_client: Client
) -> AsyncIterator[tuple[IngestEnv, ObjectStore]]:
    ingest = ingest_env(moto_server, temporal_server, temporal_client, with_queue=False)
    async with ObjectStore(ingest.settings) as store:
        yield ingest, store


def put(env: IngestEnv, key: str, body: bytes) -> str:
    return env.s3.put_object(Bucket=env.bucket, Key=key, Body=body)["ETag"]


def keys(env: IngestEnv, prefix: str) -> dict[str, bytes]:
    listing = env.s3.list_objects_v2(Bucket=env.bucket, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: env.s3.get_object(Bucket=env.bucket, Key=item["Key"])["Body"].read()
        for item in listing
    }


async def take(store: ObjectStore, drop: DropRef, **options: bool) -> TakenDrop:
    request = TakeDropInput(drop=drop, session_id=drop.session_id, **options)
    result: TakenDrop = await ActivityEnvironment().run(IntakeActivities(store).take_drop, request)
    return result


def new_drop(env: IngestEnv) -> str:
    folder = f"inbox/d-{uuid.uuid4().hex[:8]}/"
    put(env, folder + "face.png", b"png bytes")
    return folder


@pytest.mark.asyncio(loop_scope="session")
async def test_the_empty_uploads_session_never_touches_the_real_manifest(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    folder = new_drop(ingest)
    empty = DropRef.of(
        ingest.bucket, folder + "manifest.json", put(ingest, folder + "manifest.json", b"")
    )
    real = DropRef.of(
        ingest.bucket, folder + "manifest.json", put(ingest, folder + "manifest.json", REAL)
    )

    with pytest.raises(ApplicationError, match="replaced by a newer upload") as refused:
        await take(store, empty)
    assert refused.value.non_retryable
    assert keys(ingest, folder)[folder + "manifest.json"] == REAL

    taken = await take(store, real)
    assert taken.manifest.image == "face.png"
    assert keys(ingest, folder) == {}
    inputs = keys(ingest, SessionLayout(real.session_id).root)
    assert inputs[SessionLayout(real.session_id).manifest] == REAL


@pytest.mark.asyncio(loop_scope="session")
async def test_an_empty_manifest_still_in_place_moves_nothing(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    folder = new_drop(ingest)
    empty = DropRef.of(
        ingest.bucket, folder + "manifest.json", put(ingest, folder + "manifest.json", b"")
    )

    with pytest.raises(ApplicationError, match="the manifest is empty"):
        await take(store, empty)
    assert set(keys(ingest, folder)) == {folder + "face.png", folder + "manifest.json"}
    assert keys(ingest, SessionLayout(empty.session_id).root) == {}


@pytest.mark.asyncio(loop_scope="session")
async def test_no_newer_object_is_copied_or_deleted_in_place_of_the_version_named(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    key = f"inbox/v-{uuid.uuid4().hex[:8]}/face.png"
    first = put(ingest, key, b"first")
    put(ingest, key, b"second")

    assert not await store.delete_version(key, first)
    with pytest.raises(ObjectChanged):
        await store.get_bytes(key, if_match=first)
    with pytest.raises(ObjectChanged):
        await store.copy(key, key + ".copy", if_match=first)
    assert keys(ingest, key) == {key: b"second"}


@pytest.mark.asyncio(loop_scope="session")
async def test_an_invalid_manifest_keeps_the_media_it_names_with_its_session(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    folder = new_drop(ingest)
    body = json.dumps({"kind": "i2v", "image": "face.png", "width": 1}).encode()
    drop = DropRef.of(
        ingest.bucket, folder + "manifest.json", put(ingest, folder + "manifest.json", body)
    )

    with pytest.raises(ApplicationError, match="width"):
        await take(store, drop)
    layout = SessionLayout(drop.session_id)
    assert keys(ingest, folder) == {}
    assert set(keys(ingest, layout.root)) == {layout.manifest, layout.input("face.png")}


@pytest.mark.asyncio(loop_scope="session")
async def test_media_names_resolve_as_users_mean_them_and_misses_list_the_folder(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    folder = f"inbox/n-{uuid.uuid4().hex[:8]}/"
    put(ingest, folder, b"")  # a console's folder marker
    put(ingest, folder + unicodedata.normalize("NFD", "Café.PNG"), b"png")
    manifest = {"kind": "i2v", "image": ".\\" + unicodedata.normalize("NFC", "café.png")}
    drop = DropRef.of(
        ingest.bucket,
        folder + "manifest.json",
        put(ingest, folder + "manifest.json", json.dumps(manifest).encode()),
    )
    taken = await take(store, drop)
    assert taken.inputs == {"image": SessionLayout(drop.session_id).input("café.png")}

    missing = {"kind": "s2v", "image": "face.png", "audio": "speech.wav"}
    folder = new_drop(ingest)
    put(ingest, folder + "speach.wav", b"wav")
    drop = DropRef.of(
        ingest.bucket,
        folder + "manifest.json",
        put(ingest, folder + "manifest.json", json.dumps(missing).encode()),
    )
    with pytest.raises(ApplicationError) as refused:
        await take(store, drop, media_may_arrive=True)
    assert refused.value.type == "missing_media"
    assert "audio 'speech.wav'" in refused.value.message
    assert "holds 'face.png', 'speach.wav' (did you mean 'speach.wav'?)" in refused.value.message
    assert len(keys(ingest, folder)) == 3  # nothing moved while the media may still arrive


@pytest.mark.asyncio(loop_scope="session")
async def test_the_same_manifest_uploaded_again_after_its_session_starts_a_new_one(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    starter = ingest.starter
    starter.inbox = store
    key = f"inbox/r-{uuid.uuid4().hex[:8]}/manifest.json"
    drop = DropRef.of(ingest.bucket, key, put(ingest, key, REAL))
    assert await starter.start(drop, source="test") is StartOutcome.STARTED
    first = ingest.client.get_workflow_handle(drop.workflow_id)
    await first.terminate("the session finished")
    ingest.s3.delete_object(Bucket=ingest.bucket, Key=key)  # its session took the manifest

    assert await starter.start(drop, source="replay") is StartOutcome.ALREADY_FINISHED
    assert await session_workflows(ingest) == 1

    await asyncio.sleep(1.1)  # Last-Modified has whole seconds: put after the session started
    assert DropRef.of(ingest.bucket, key, put(ingest, key, REAL)).etag == drop.etag
    assert await starter.start(drop, source="upload again") is StartOutcome.STARTED
    assert await starter.start(drop, source="replay") is StartOutcome.STARTED  # attaches
    assert await session_workflows(ingest) == 2
    workflows = [
        w
        async for w in ingest.client.list_workflows(
            f"TaskQueue = '{ingest.settings.temporal_task_queue}'"
        )
    ]
    assert len({w.id for w in workflows}) == 2
    for workflow in workflows:
        if workflow.id != drop.workflow_id:
            await ingest.client.get_workflow_handle(workflow.id).terminate("test done")


@pytest.mark.asyncio(loop_scope="session")
async def test_reconcile_starts_a_re_upload_only_once_its_first_session_ended(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    starter = ingest.starter
    starter.inbox = store
    key = f"inbox/rr-{uuid.uuid4().hex[:8]}/manifest.json"
    drop = DropRef.of(ingest.bucket, key, put(ingest, key, REAL))
    assert await starter.start(drop, source="event") is StartOutcome.STARTED
    # Running, its manifest not taken yet: not a re-upload.
    assert await starter.start_if_uploaded_again(drop, source="reconcile") is None

    # Cancelled while it waited for media: the manifest it never took is no new upload,
    # for reconcile nor for a replayed event (that would undo the cancel).
    await ingest.client.get_workflow_handle(drop.workflow_id).terminate("the session ended")
    assert await starter.start_if_uploaded_again(drop, source="reconcile") is None
    assert await starter.start(drop, source="replay") is StartOutcome.ALREADY_FINISHED
    assert await session_workflows(ingest) == 1

    await asyncio.sleep(1.1)  # Last-Modified has whole seconds
    assert DropRef.of(ingest.bucket, key, put(ingest, key, REAL)).etag == drop.etag
    assert await starter.start_if_uploaded_again(drop, source="reconcile") is StartOutcome.STARTED
    assert await starter.start_if_uploaded_again(drop, source="reconcile") is StartOutcome.STARTED
    assert await session_workflows(ingest) == 2
    async for workflow in ingest.client.list_workflows(
        f"TaskQueue = '{ingest.settings.temporal_task_queue}' AND ExecutionStatus = 'Running'"
    ):
        await ingest.client.get_workflow_handle(workflow.id).terminate("test done")
