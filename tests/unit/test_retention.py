"""The bucket's lifecycle rules as ``pipeline.domain.retention`` builds and compares them."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.config import load_settings
from pipeline.domain.errors import ConfigError
from pipeline.domain.layout import INBOX_PREFIX, SESSIONS_PREFIX, SessionLayout
from pipeline.domain.retention import (
    INBOX_RULE,
    MULTIPART_RULE,
    SESSIONS_RULE,
    Applied,
    RetentionPolicy,
    describe,
    lifecycle_rules,
    merged,
    outcome,
)


def by_id(rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["ID"]: rule for rule in rules}


def test_defaults_only_abort_unfinished_uploads_after_a_day() -> None:
    rules = lifecycle_rules(RetentionPolicy())
    assert [rule["ID"] for rule in rules] == [MULTIPART_RULE]
    assert rules[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules[0]["Filter"] == {"Prefix": ""}


def test_each_number_is_its_rule_and_zero_turns_it_off() -> None:
    rules = by_id(lifecycle_rules(RetentionPolicy(multipart_days=0, inbox_days=7, session_days=90)))
    assert set(rules) == {INBOX_RULE, SESSIONS_RULE}
    assert rules[INBOX_RULE]["Filter"] == {"Prefix": INBOX_PREFIX}
    assert rules[INBOX_RULE]["Expiration"] == {"Days": 7}
    assert rules[SESSIONS_RULE]["Filter"] == {"Prefix": SESSIONS_PREFIX}
    assert rules[SESSIONS_RULE]["Expiration"] == {"Days": 90}
    assert lifecycle_rules(RetentionPolicy(multipart_days=0)) == []


def test_session_rule_covers_every_session_key_and_inbox_rule_none() -> None:
    layout = SessionLayout("s-1")
    keys = [layout.prepared_audio, layout.segment("r", 0), layout.combined("r"), layout.result]
    rules = by_id(lifecycle_rules(RetentionPolicy(inbox_days=3, session_days=30)))
    assert all(key.startswith(rules[SESSIONS_RULE]["Filter"]["Prefix"]) for key in keys)
    assert not any(key.startswith(rules[INBOX_RULE]["Filter"]["Prefix"]) for key in keys)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="inbox_days"):
        RetentionPolicy(inbox_days=-1)


@pytest.mark.parametrize(
    ("variable", "value"), [("RETENTION_INBOX_DAYS", "-1"), ("RETENTION_SESSION_DAYS", "99999")]
)
def test_settings_validate_the_days(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(**{variable: value})


def test_settings_build_the_policy() -> None:
    settings = load_settings(RETENTION_INBOX_DAYS="5", RETENTION_MULTIPART_DAYS="0")
    assert settings.retention == RetentionPolicy(multipart_days=0, inbox_days=5, session_days=0)


def test_outcome_created_updated_unchanged() -> None:
    wanted = lifecycle_rules(RetentionPolicy(inbox_days=7))
    assert outcome([], wanted) is Applied.CREATED
    assert outcome(wanted, wanted) is Applied.UNCHANGED
    assert outcome(lifecycle_rules(RetentionPolicy(inbox_days=8)), wanted) is Applied.UPDATED
    assert outcome(wanted, []) is Applied.UPDATED
    assert outcome([], []) is Applied.UNCHANGED


def test_outcome_reads_a_store_s_legacy_shape_as_the_same_rule() -> None:
    # A store may answer with the top-level Prefix of the 2006 API and no Filter.
    read_back = [
        {"ID": INBOX_RULE, "Prefix": INBOX_PREFIX, "Status": "Enabled", "Expiration": {"Days": 7}}
    ]
    assert outcome(read_back, lifecycle_rules(RetentionPolicy(0, 7, 0))) is Applied.UNCHANGED


def test_other_rules_are_kept_and_ignored() -> None:
    foreign = {
        "ID": "logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 2},
    }
    wanted = lifecycle_rules(RetentionPolicy())
    assert outcome([foreign, *wanted], wanted) is Applied.UNCHANGED
    assert merged([foreign, *lifecycle_rules(RetentionPolicy(5))], wanted) == [foreign, *wanted]


def test_describe_says_what_a_rule_does() -> None:
    rules = by_id(lifecycle_rules(RetentionPolicy(inbox_days=7)))
    assert describe(rules[INBOX_RULE]) == f"{INBOX_RULE}: expire inbox/ after 7 d"
    assert "unfinished after 1 d" in describe(rules[MULTIPART_RULE])
