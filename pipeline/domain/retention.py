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

Intermediate files (``layout.is_intermediate``: prepared media, segments, frames, tails) sit
under each session's own prefix, ``sessions/{id}/prepared/``: no prefix selects them in every
session while sparing ``combined.mp4`` and the records beside them, and R2 has no tag filter,
so no lifecycle rule can expire them. ``pipeline gc`` does, by listing (``sweep``): it expires
them ``intermediate_days`` after they were written once their session has a record, and does
what the rules above do on a store that has no lifecycle support.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from pipeline.domain.layout import INBOX_PREFIX, SESSIONS_PREFIX, SessionLayout, is_intermediate

RULE_PREFIX = "pipeline-"
"""Rules whose ID starts so are the pipeline's; any other rule in force is left as it is."""
MULTIPART_RULE = "pipeline-multipart"
INBOX_RULE = "pipeline-inbox"
SESSIONS_RULE = "pipeline-sessions"
INTERMEDIATE_RULE = "pipeline-intermediate"
"""``pipeline gc``'s own rule: no store's lifecycle filters can select intermediate files."""


class Applied(StrEnum):
    """What applying the rules did to the bucket's configuration."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days after which each kind of object goes; 0 turns that rule off.

    ``intermediate_days`` is no lifecycle rule (see the module): only ``pipeline gc`` applies it.
    """

    multipart_days: int = 1
    inbox_days: int = 0
    session_days: int = 0
    intermediate_days: int = 0

    def __post_init__(self) -> None:
        for name in ("multipart_days", "inbox_days", "session_days", "intermediate_days"):
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


@dataclass(frozen=True)
class Stored:
    """An object as a listing shows it: key, size in bytes, when it was last written."""

    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class Upload:
    """A multipart upload not completed: its key, upload id and when it was initiated."""

    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class Sweep:
    """What ``pipeline gc`` removes: objects by the rule that expires them, and uploads."""

    expired: dict[str, tuple[Stored, ...]]
    """Rule id → the objects it expires (rules with none are left out)."""
    aborted: tuple[Upload, ...]

    @property
    def keys(self) -> list[str]:
        return [stored.key for found in self.expired.values() for stored in found]


def _session_of(key: str) -> str | None:
    parts = PurePosixPath(key).parts
    return parts[1] if len(parts) > 2 and f"{parts[0]}/" == SESSIONS_PREFIX else None


def _finished(objects: Iterable[Stored]) -> set[str]:
    """The sessions with a record (``result.json`` or ``error.json``): no run is writing."""
    done: set[str] = set()
    for stored in objects:
        session = _session_of(stored.key)
        if session is None:
            continue
        layout = SessionLayout(session)
        if stored.key in (layout.result, layout.error):
            done.add(session)
    return done


def sweep(
    policy: RetentionPolicy,
    objects: Iterable[Stored],
    uploads: Iterable[Upload],
    now: datetime,
) -> Sweep:
    """What the policy expires among ``objects`` and ``uploads`` at ``now``, as the store's
    lifecycle would (an object goes ``N`` days after it was last written; S3 rounds to the
    next midnight UTC, this does not) plus the intermediate rule.

    An object is listed under one rule, the first of sessions, inbox, intermediate. An
    intermediate file goes only once its session has a record, so a session that is still
    rendering (or held for days by an outage) keeps what it needs. Pure: listings in.
    """
    everything = list(objects)
    finished = _finished(everything)

    def older(when: datetime, days: int) -> bool:
        return days > 0 and now - when >= timedelta(days=days)

    expired: dict[str, list[Stored]] = {}
    for stored in everything:
        session = _session_of(stored.key)
        if session is not None and older(stored.last_modified, policy.session_days):
            rule = SESSIONS_RULE
        elif stored.key.startswith(INBOX_PREFIX) and older(
            stored.last_modified, policy.inbox_days
        ):
            rule = INBOX_RULE
        elif (
            session in finished
            and is_intermediate(stored.key)
            and older(stored.last_modified, policy.intermediate_days)
        ):
            rule = INTERMEDIATE_RULE
        else:
            continue
        expired.setdefault(rule, []).append(stored)
    aborted = tuple(u for u in uploads if older(u.initiated, policy.multipart_days))
    return Sweep({rule: tuple(found) for rule, found in sorted(expired.items())}, aborted)
