"""Doctor checks of the bucket, its presigned links, its lifecycle rules and of the S3 → SQS
event path (plain S3 and SQS APIs)."""

from __future__ import annotations

from typing import Any

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.config import Settings
from pipeline.doctor.check import TIMEOUT_S, Check, failed, passed
from pipeline.domain.errors import StorageError
from pipeline.domain.layout import INBOX_PREFIX, MANIFEST_NAME
from pipeline.domain.retention import describe
from pipeline.storage import (
    NO_BUCKET_CODES,
    REFUSED_CODES,
    client_kwargs,
    lifecycle_rules_in_force,
)

_PROBE = Config(connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 1})
_REFUSED = REFUSED_CODES
_MISSING = frozenset({"404", "NotFound"}) | NO_BUCKET_CODES
PROBE_KEY = "doctor/presign-probe"
"""A key no one writes: a presigned GET of it answers 404 when the signature is accepted."""
_CREATED = frozenset({"s3:ObjectCreated:*", "s3:ObjectCreated:Put"})


def probe_client(settings: Settings, service: str) -> Any:
    """A boto3 client that fails fast instead of retrying for minutes."""
    kwargs = client_kwargs(settings, aio=False)
    kwargs["config"] = kwargs["config"].merge(_PROBE)
    endpoint = settings.s3_endpoint if service == "s3" else settings.event_queue_endpoint
    return boto3.client(service, endpoint_url=endpoint, **kwargs)  # type: ignore[call-overload]


def covers_inbox_manifests(prefix: str | None, suffix: str | None) -> bool:
    """Whether a prefix/suffix filter lets every ``inbox/**/manifest.json`` through."""
    return INBOX_PREFIX.startswith(prefix or "") and MANIFEST_NAME.endswith(suffix or "")


def rule_fix(deploy: str) -> str:
    return (
        f"add a rule for created objects, prefix {INBOX_PREFIX}, suffix {MANIFEST_NAME} "
        f"(deploy/{deploy}/README.md)"
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def storage_checks(settings: Settings) -> list[Check]:
    endpoint, bucket = settings.s3_endpoint, settings.r2_bucket_name
    try:
        probe_client(settings, "s3").head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _code(exc)
        if code in _REFUSED:
            return [
                failed(
                    "storage credentials",
                    f"{endpoint} refused them ({code})",
                    f"check R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY and their access to {bucket}",
                ),
                failed("bucket", "not checked: credentials refused"),
            ]
        if code in _MISSING:
            return [
                passed("storage credentials", f"accepted by {endpoint}"),
                failed(
                    "bucket",
                    f"{bucket} does not exist",
                    "create it (deploy/r2/setup.sh, deploy/s3/README.md) or fix R2_BUCKET_NAME",
                ),
            ]
        return [failed("storage credentials", f"{endpoint}: {exc}", "check R2_ENDPOINT_URL")]
    except BotoCoreError as exc:
        return [
            failed(
                "storage credentials", f"{endpoint} unreachable: {exc}", "check R2_ENDPOINT_URL"
            ),
            failed("bucket", "not checked: storage unreachable"),
        ]
    return [
        passed("storage credentials", f"accepted by {endpoint}"),
        passed("bucket", f"{bucket} exists"),
        presign_check(settings),
        lifecycle_check(settings),
    ]


def lifecycle_check(settings: Settings) -> Check:
    """The bucket's lifecycle rules in force, one ``describe`` each; failing (a warning that
    nothing ever expires) when there is none or the store cannot say."""
    name = "lifecycle rules"
    fix = "set RETENTION_* and run: pipeline setup bucket (docs/operating.md, Retention)"
    try:
        rules = lifecycle_rules_in_force(probe_client(settings, "s3"), settings.r2_bucket_name)
    except StorageError as exc:
        return failed(name, f"not readable: {exc.detail.get('code')}", fix)
    if not rules:
        return failed(name, "none in force: nothing in the bucket ever expires", fix)
    shown = [describe(rule) for rule in rules]
    if settings.retention_intermediate_days:
        days = settings.retention_intermediate_days
        shown.append(f"intermediate files: by `pipeline gc` after {days} d")
    return passed(name, "; ".join(shown))


def presign_check(settings: Settings) -> Check:
    """Whether the store accepts the links outputs get: a presigned GET (valid for
    ``PRESIGN_EXPIRY_S``) of a key that does not exist must answer 404, not 403
    (a clock off, a store that refuses the expiry). Checked under ``R2_PUBLIC_URL`` too:
    it links only ``PUBLIC_OUTPUTS``, every other object is presigned. Public URLs are not
    checked."""
    name = "presigned links"
    url = probe_client(settings, "s3").generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.r2_bucket_name, "Key": PROBE_KEY},
        ExpiresIn=settings.presign_expiry_s,
    )
    valid = f"valid for {settings.presign_expiry_s} s (PRESIGN_EXPIRY_S)"
    try:
        response = httpx.get(url, timeout=TIMEOUT_S, trust_env=False)
    except httpx.HTTPError as exc:
        return failed(name, f"{settings.s3_endpoint} unreachable: {exc!r}", "check R2_ENDPOINT_URL")
    if response.status_code in (httpx.codes.OK, httpx.codes.NOT_FOUND):
        return passed(name, f"{valid}, accepted by {settings.s3_endpoint}")
    code = response.text.partition("<Code>")[2].partition("</Code>")[0] or response.status_code
    return failed(
        name,
        f"{settings.s3_endpoint} refused a link {valid}: {code}",
        "check this host's clock, PRESIGN_EXPIRY_S and the key's read access",
    )


def sqs_checks(settings: Settings) -> list[Check]:
    queue_url = settings.event_queue_url
    try:
        attributes = probe_client(settings, "sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )
        arn = str(attributes["Attributes"]["QueueArn"])
    except (ClientError, BotoCoreError) as exc:
        return [
            failed(
                "event queue", f"{queue_url}: {exc}", "check SQS_QUEUE_URL (deploy/s3/README.md)"
            ),
            failed("notification rule", "not checked: no queue"),
        ]
    queue = passed("event queue", arn)
    try:
        config = probe_client(settings, "s3").get_bucket_notification_configuration(
            Bucket=settings.r2_bucket_name
        )
    except (ClientError, BotoCoreError) as exc:
        return [queue, failed("notification rule", str(exc), rule_fix("s3"))]
    for rule in config.get("QueueConfigurations", []):
        rules = rule.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        filters = {item["Name"].lower(): item["Value"] for item in rules}
        if (
            rule["QueueArn"] == arn
            and _CREATED & set(rule["Events"])
            and covers_inbox_manifests(filters.get("prefix"), filters.get("suffix"))
        ):
            return [queue, passed("notification rule", f"{rule.get('Id', 'a rule')} → {arn}")]
    return [
        queue,
        failed("notification rule", f"no rule sends new inbox manifests to {arn}", rule_fix("s3")),
    ]
