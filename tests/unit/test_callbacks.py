"""Standard Webhooks signing (pipeline.callbacks), checked against the reference library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from pipeline import callbacks

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()


def test_the_reference_library_verifies_what_we_sign() -> None:
    body = callbacks.encode({"type": "session.succeeded", "data": {"frames": 81}})
    sent = callbacks.headers(callbacks.secret_key(SECRET), "msg_1", int(time.time()), body)

    assert Webhook(SECRET).verify(body, sent) == {
        "type": "session.succeeded",
        "data": {"frames": 81},
    }


def test_a_tampered_body_or_another_secret_fails_verification() -> None:
    body = callbacks.encode({"status": "failed"})
    sent = callbacks.headers(callbacks.secret_key(SECRET), "msg_2", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"failed", b"succeeded"), sent)
    other = "whsec_" + base64.b64encode(b"another key, 20 bytes").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, sent)


def test_signature_is_hmac_sha256_over_id_timestamp_body() -> None:
    # The Standard Webhooks spec's own example (spec v1, "Signature scheme").
    key = callbacks.secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert (
        callbacks.signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_unsigned_without_a_key_and_bad_secrets_are_refused() -> None:
    assert "webhook-signature" not in callbacks.headers(None, "m", 1, b"{}")
    for bad in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="):
        with pytest.raises(ValueError, match="callback secret"):
            callbacks.secret_key(bad)
