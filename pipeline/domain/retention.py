"""The bucket's lifecycle rules: which objects the store itself expires, and after how long.
Pure: builds and compares ``PutBucketLifecycleConfiguration`` rules, no I/O.

Rules are selected by key prefix only, the one filter every target store offers: R2's
lifecycle conditions are a prefix and nothing else (Cloudflare, "Object lifecycles",
https://developers.cloudflare.com/r2/buckets/object-lifecycles/), S3 adds tags and sizes.

=======================  ========================  ==========================================
rule id                  prefix                    action
=======================  ========================  ==========================================
pipeline-multipart       (whole bucket)            abort uploads not completed after N days
pipeline-inbox           ``inbox/``                expire drops left in the inbox after N days
pipeline-sessions        ``sessions/``             expire whole sessions after M days
=======================  ========================  ==========================================

Intermediate files (``prepared/``, segments, frames, tails) sit under each session's own
prefix, ``sessions/{id}/prepared/``: no prefix selects them in every session while sparing
``combined.mp4`` and the records beside them, and R2 has no tag filter, so they are not a
rule here (they go with their session under ``pipeline-sessions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline.domain.layout import INBOX_PREFIX, SESSIONS_PREFIX

RULE_PREFIX = "pipeline-"
"""Rules whose ID starts so are the pipeline's; any other rule in force is left as it is."""
MULTIPART_RULE = "pipeline-multipart"
INBOX_RULE = "pipeline-inbox"
SESSIONS_RULE = "pipeline-sessions"


class Applied(StrEnum):
    """What applying the rules did to the bucket's configuration."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days after which each kind of object goes; 0 turns that rule off."""

    multipart_days: int = 1
    inbox_days: int = 0
    session_days: int = 0

    def __post_init__(self) -> None:
        for name in ("multipart_days", "inbox_days", "session_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")


def _expire(rule_id: str, prefix: str, days: int) -> dict[str, Any]:
    return {
        "ID": rule_id,
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Expiration": {"Days": days},
    }


def lifecycle_rules(policy: RetentionPolicy) -> list[dict[str, Any]]:
    """The pipeline's rules for ``policy``, in boto3's ``LifecycleConfiguration["Rules"]``
    shape, sorted by ID; a rule whose days are 0 is left out."""
    rules: list[dict[str, Any]] = []
    if policy.multipart_days:
        rules.append(
            {
                "ID": MULTIPART_RULE,
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": policy.multipart_days},
            }
        )
    if policy.inbox_days:
        rules.append(_expire(INBOX_RULE, INBOX_PREFIX, policy.inbox_days))
    if policy.session_days:
        rules.append(_expire(SESSIONS_RULE, SESSIONS_PREFIX, policy.session_days))
    return sorted(rules, key=lambda rule: str(rule["ID"]))


def _prefix(rule: dict[str, Any]) -> str:
    found = rule.get("Filter", {})
    if "And" in found:
        found = found["And"]
    return str(found.get("Prefix", rule.get("Prefix", "")) or "")


def essence(rule: dict[str, Any]) -> tuple[str, str, str, int | None, int | None]:
    """What a rule does, as a store reads it back: ID, status, prefix, expiration days and
    multipart days. Stores add or move fields (a legacy top-level ``Prefix``, an empty
    ``Filter``), so rules are compared on this, not on their documents."""
    expiration = rule.get("Expiration", {}).get("Days")
    multipart = rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
    return (
        str(rule.get("ID", "")),
        str(rule.get("Status", "")),
        _prefix(rule),
        None if expiration is None else int(expiration),
        None if multipart is None else int(multipart),
    )


def is_ours(rule: dict[str, Any]) -> bool:
    return str(rule.get("ID", "")).startswith(RULE_PREFIX)


def merged(in_force: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configuration to put: every rule that is not the pipeline's, kept, then ``wanted``."""
    return [rule for rule in in_force if not is_ours(rule)] + wanted


def outcome(in_force: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> Applied:
    """``unchanged`` when the pipeline's rules in force do what ``wanted`` does, ``created``
    when none of them is in force yet, ``updated`` otherwise."""
    ours = sorted(essence(rule) for rule in in_force if is_ours(rule))
    if ours == sorted(essence(rule) for rule in wanted):
        return Applied.UNCHANGED
    return Applied.UPDATED if ours else Applied.CREATED


def describe(rule: dict[str, Any]) -> str:
    """One rule in words: ``pipeline-inbox: expire inbox/ after 7 d``."""
    rule_id, status, prefix, expiration, multipart = essence(rule)
    where = prefix or "the whole bucket"
    actions = []
    if expiration is not None:
        actions.append(f"expire {where} after {expiration} d")
    if multipart is not None:
        actions.append(f"abort uploads in {where} unfinished after {multipart} d")
    off = "" if status == "Enabled" else f" ({status.lower()})"
    return f"{rule_id}: {', '.join(actions) or 'other actions'}{off}"
