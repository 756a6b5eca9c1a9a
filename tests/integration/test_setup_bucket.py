"""``pipeline setup bucket`` through the real command line: against moto (a second S3) it
creates the lifecycle rules, a second run finds them unchanged and they read back as built,
a changed number updates them and a foreign rule survives; against the embedded SeaweedFS
the same (it keeps lifecycle rules)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from pipeline.cli.app import cli
from pipeline.cli.setup import LIFECYCLE_UNSUPPORTED_EXIT
from pipeline.config import load_settings
from pipeline.doctor.storage import lifecycle_check
from pipeline.domain.retention import RetentionPolicy, essence, lifecycle_rules
from pipeline.storage import lifecycle_rules_in_force, sync_s3
from tests.conftest import TEST_ACCESS_KEY, TEST_REGION, S3Bucket

pytestmark = pytest.mark.integration


def store_env(endpoint: str, bucket: str, **overrides: str) -> dict[str, str]:
    return {
        "R2_ENDPOINT_URL": endpoint,
        "R2_BUCKET_NAME": bucket,
        "R2_ACCESS_KEY_ID": TEST_ACCESS_KEY,
        "R2_SECRET_ACCESS_KEY": TEST_ACCESS_KEY,
        "R2_REGION": TEST_REGION,
        **overrides,
    }


async def setup_bucket(env: dict[str, str], *args: str) -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke, cli, ["setup", "bucket", *args], env=env, catch_exceptions=False
    )


def essences(rules: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(essence(rule) for rule in rules)


@pytest.fixture
def moto_bucket(moto_server: str) -> str:
    name = f"retention-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_ACCESS_KEY,
        region_name=TEST_REGION,
    ).create_bucket(Bucket=name)
    return name


async def test_moto_applies_the_rules_once_then_finds_them_unchanged(
    moto_server: str, moto_bucket: str
) -> None:
    env = store_env(moto_server, moto_bucket, RETENTION_INBOX_DAYS="7", RETENTION_SESSION_DAYS="90")
    first = await setup_bucket(env, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["lifecycle"] == "created"

    second = await setup_bucket(env)
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines()[0] == f"lifecycle of {moto_bucket}: unchanged"

    settings = load_settings(**env)
    read_back = lifecycle_rules_in_force(sync_s3(settings), moto_bucket)
    wanted = lifecycle_rules(RetentionPolicy(multipart_days=1, inbox_days=7, session_days=90))
    assert essences(read_back) == essences(wanted)


async def test_moto_updates_a_changed_number_and_keeps_foreign_rules(
    moto_server: str, moto_bucket: str
) -> None:
    env = store_env(moto_server, moto_bucket, RETENTION_INBOX_DAYS="7")
    client = sync_s3(load_settings(**env))
    foreign: dict[str, Any] = {
        "ID": "logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 2},
    }
    client.put_bucket_lifecycle_configuration(
        Bucket=moto_bucket,
        LifecycleConfiguration={"Rules": [foreign]},  # type: ignore[list-item]
    )
    assert json.loads((await setup_bucket(env, "--json")).stdout)["lifecycle"] == "created"
    changed = await setup_bucket({**env, "RETENTION_INBOX_DAYS": "3"}, "--json")
    assert json.loads(changed.stdout)["lifecycle"] == "updated"

    read_back = lifecycle_rules_in_force(client, moto_bucket)
    wanted = lifecycle_rules(RetentionPolicy(inbox_days=3))
    assert essences(read_back) == essences([foreign, *wanted])


async def test_embedded_store_keeps_the_rules_idempotently(s3_bucket: S3Bucket) -> None:
    # Measured on SeaweedFS 4.48: it stores lifecycle rules and reads them back as written
    # (seaweedfs/seaweedfs#8805, #8813); a store without them would exit
    # LIFECYCLE_UNSUPPORTED_EXIT with one line on stderr.
    bucket = f"retention-{uuid.uuid4().hex[:12]}"
    s3_bucket.session().client("s3", endpoint_url=s3_bucket.endpoint).create_bucket(Bucket=bucket)
    env = store_env(s3_bucket.endpoint, bucket, RETENTION_INBOX_DAYS="7")
    first = await setup_bucket(env)
    assert first.exit_code != LIFECYCLE_UNSUPPORTED_EXIT, first.stderr
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0] == f"lifecycle of {bucket}: created"
    second = await setup_bucket(env)
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines()[0] == f"lifecycle of {bucket}: unchanged"
    read_back = lifecycle_rules_in_force(sync_s3(load_settings(**env)), bucket)
    assert essences(read_back) == essences(lifecycle_rules(RetentionPolicy(inbox_days=7)))


async def test_doctor_warns_without_rules_and_lists_them_once_applied(
    moto_server: str, moto_bucket: str
) -> None:
    env = store_env(moto_server, moto_bucket, RETENTION_INBOX_DAYS="7")
    settings = load_settings(**env)
    before = await asyncio.to_thread(lifecycle_check, settings)
    assert not before.ok
    assert "none in force" in before.detail
    assert (await setup_bucket(env)).exit_code == 0
    after = await asyncio.to_thread(lifecycle_check, settings)
    assert after.ok, after.detail
    assert "pipeline-inbox: expire inbox/ after 7 d" in after.detail
