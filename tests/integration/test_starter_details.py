"""What a started session shows in the Temporal UI, as Temporal stores it (``describe()``):
text from the manifest and its file names is inert Markdown, and the only links are the
pipeline's own, which last.

Real Temporal dev server and moto; the starter reads the manifest from the bucket as ingest
does. No worker polls the session's queue: the tests read its metadata, then terminate it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from pipeline.domain.drop import DropRef
from pipeline.ingest.starter import Starter
from pipeline.storage import ObjectStore
from tests.conftest import TemporalServer
from tests.helpers import png
from tests.integration.ingest_support import IngestEnv, ingest_env

pytestmark = pytest.mark.integration

PHISH = "http://127.0.0.1:28999"
PROMPT = (
    f"a calm smile ![status]({PHISH}/pixel.png?from=details) "
    f'[Approve this render]({PHISH}/phish) <img src="{PHISH}/imgtag.png">'
)
"""The prompt of shared case 10 (prompt-rendered-as-markdown): an image, a link, an ``<img>``."""

MARKDOWN_LINK = re.compile(r"\]\(|\]\s*\[|<[a-zA-Z/!]")
"""What would make a Markdown renderer draw a link, an image or HTML outside a code span."""


def outside_code(markdown: str) -> str:
    """``markdown`` with its code spans (any fence length) cut out: what a renderer parses."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", markdown, flags=re.S)


@pytest_asyncio.fixture(loop_scope="session")
async def env(
    moto_server: str, temporal_server: TemporalServer, temporal_client: Client
) -> AsyncIterator[tuple[IngestEnv, ObjectStore]]:
    ingest = ingest_env(moto_server, temporal_server, temporal_client, with_queue=False)
    async with ObjectStore(ingest.settings) as store:
        yield ingest, store


async def start(
    env: IngestEnv, store: ObjectStore, folder: str, manifest: dict[str, object]
) -> DropRef:
    """Put ``manifest`` and its image under ``inbox/{folder}/`` and start its session."""
    image = str(manifest["image"])
    env.s3.put_object(Bucket=env.bucket, Key=f"inbox/{folder}/{image}", Body=png())
    key = f"inbox/{folder}/manifest.json"
    etag = env.s3.put_object(Bucket=env.bucket, Key=key, Body=json.dumps(manifest).encode())
    drop = DropRef.of(env.bucket, key, etag["ETag"])
    starter = Starter(
        env.client,
        task_queue=env.settings.temporal_task_queue,
        gpu_task_queue=env.settings.temporal_gpu_task_queue,
        inbox=store,
    )
    await starter.start(drop, source="test")
    return drop


async def metadata(client: Client, drop: DropRef) -> tuple[str, str]:
    handle = client.get_workflow_handle(drop.workflow_id)
    description = await handle.describe()
    shown = (await description.static_summary() or "", await description.static_details() or "")
    await handle.terminate("read its metadata")
    return shown


async def test_a_prompt_with_links_images_and_html_is_inert_text_in_the_stored_details(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    drop = await start(
        ingest,
        store,
        f"md-{uuid.uuid4().hex[:8]}",
        {"kind": "i2v", "image": "face.png", "prompt": PROMPT},
    )

    summary, details = await metadata(ingest.client, drop)

    assert PROMPT in details  # shown whole, as text ...
    parsed = outside_code(details)
    assert PHISH not in parsed  # ... inside a code span, where nothing is a link or a tag
    assert not MARKDOWN_LINK.search(parsed), details
    assert "<img" not in parsed
    assert drop.manifest_key in summary


async def test_file_names_with_markdown_are_inert_in_summary_and_details(
    env: tuple[IngestEnv, ObjectStore],
) -> None:
    ingest, store = env
    folder = f"[Approve]({PHISH})-{uuid.uuid4().hex[:8]}"
    image = "face`](x)<b>.png"
    drop = await start(ingest, store, folder, {"kind": "i2v", "image": image})

    summary, details = await metadata(ingest.client, drop)

    for shown in (summary, details):
        parsed = outside_code(shown)
        assert PHISH not in parsed, shown
        assert not MARKDOWN_LINK.search(parsed), shown
    assert image in details
    assert f"pipeline status {drop.session_id}" in details
