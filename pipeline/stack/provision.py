"""Create the bucket, and wire its new manifests to an SQS queue with the plain S3 and SQS APIs.

This is what one would do on AWS (and what moto, playing the bucket locally, implements).
Cloudflare R2 has no SQS: there the equivalent is a Cloudflare Queue plus an R2 event
notification rule for ``object-create`` on the same prefix and suffix, configured with
``wrangler`` rather than through the S3 API.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from botocore.exceptions import ClientError

from pipeline.domain.layout import INBOX_PREFIX, MANIFEST_NAME

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.literals import BucketLocationConstraintType
    from types_boto3_sqs.client import SQSClient

NOTIFICATION_ID = "pipeline-manifests"

# us-east-1 rejects an explicit LocationConstraint; R2's pseudo-region "auto" is no location.
_NO_LOCATION_CONSTRAINT = frozenset({"us-east-1", "auto"})


def provision_bucket_events(
    s3: S3Client,
    sqs: SQSClient,
    *,
    bucket: str,
    queue_name: str,
    prefix: str = INBOX_PREFIX,
    suffix: str = MANIFEST_NAME,
) -> str:
    """Create the bucket and queue if missing and route ``ObjectCreated`` events to the queue.

    Only keys under ``prefix`` ending in ``suffix`` produce events. Idempotent; the bucket's
    notification configuration is replaced by this one rule. Returns the queue URL.
    """
    ensure_bucket(s3, bucket)
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={"Policy": json.dumps(_queue_policy(queue_arn, bucket))},
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": NOTIFICATION_ID,
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": prefix},
                                {"Name": "suffix", "Value": suffix},
                            ]
                        }
                    },
                }
            ]
        },
    )
    return queue_url


def ensure_bucket(s3: S3Client, bucket: str) -> None:
    """Create ``bucket`` unless this account already owns it."""
    region = s3.meta.region_name
    try:
        if region in _NO_LOCATION_CONSTRAINT:
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                # Regions newer than the stubs are valid too, hence the cast.
                CreateBucketConfiguration={
                    "LocationConstraint": cast("BucketLocationConstraintType", region)
                },
            )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def _queue_policy(queue_arn: str, bucket: str) -> dict[str, object]:
    """Let S3 send to the queue, but only on behalf of this bucket."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }
