"""Standard Webhooks signing and verification: what `POST /hooks/retrain` relies on."""

from __future__ import annotations

import base64
import time

import pytest

from monitor.errors import WebhookSignatureError
from monitor.notify.signing import secret_bytes, sign, signed_headers, verify

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
BODY = b'{"model": "churn", "reason": "labels arrived"}'


def test_the_convention_s_published_example_signs_the_same():
    # The example in the Standard Webhooks specification.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_good_signature_verifies_and_gives_the_id_for_idempotency():
    headers = signed_headers(SECRET, "msg_1", BODY)
    assert verify(headers, BODY, SECRET) == "msg_1"


def test_header_names_are_case_insensitive():
    headers = {key.title(): value for key, value in signed_headers(SECRET, "msg_1", BODY).items()}
    assert "Webhook-Signature" in headers
    assert verify(headers, BODY, SECRET) == "msg_1"


def test_a_tampered_body_is_refused():
    headers = signed_headers(SECRET, "msg_1", BODY)
    with pytest.raises(WebhookSignatureError, match="no valid v1 signature"):
        verify(headers, BODY.replace(b"churn", b"chump"), SECRET)


def test_a_tampered_id_or_timestamp_is_refused():
    headers = signed_headers(SECRET, "msg_1", BODY)
    with pytest.raises(WebhookSignatureError, match="signature"):
        verify({**headers, "webhook-id": "msg_2"}, BODY, SECRET)
    later = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(WebhookSignatureError, match="signature"):
        verify({**headers, "webhook-timestamp": later}, BODY, SECRET)


def test_a_wrong_secret_is_refused():
    headers = signed_headers("whsec_" + base64.b64encode(b"another secret").decode(), "m", BODY)
    with pytest.raises(WebhookSignatureError, match="no valid v1 signature"):
        verify(headers, BODY, SECRET)


def test_a_stale_timestamp_is_refused_even_with_a_good_signature():
    old = int(time.time()) - 301
    headers = signed_headers(SECRET, "msg_1", BODY, timestamp=old)
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify(headers, BODY, SECRET)
    assert verify(headers, BODY, SECRET, tolerance=600) == "msg_1"


def test_a_timestamp_from_the_future_is_refused():
    headers = signed_headers(SECRET, "msg_1", BODY, timestamp=int(time.time()) + 301)
    with pytest.raises(WebhookSignatureError, match="future"):
        verify(headers, BODY, SECRET)


def test_a_timestamp_within_tolerance_passes():
    now = 1_700_000_000
    headers = signed_headers(SECRET, "msg_1", BODY, timestamp=now - 299)
    assert verify(headers, BODY, SECRET, now=now) == "msg_1"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing: str):
    headers = signed_headers(SECRET, "msg_1", BODY)
    del headers[missing]
    with pytest.raises(WebhookSignatureError, match=f"missing {missing}"):
        verify(headers, BODY, SECRET)


def test_a_malformed_timestamp_is_refused():
    headers = signed_headers(SECRET, "msg_1", BODY)
    with pytest.raises(WebhookSignatureError, match="not integer seconds"):
        verify({**headers, "webhook-timestamp": "yesterday"}, BODY, SECRET)


def test_unknown_signature_versions_and_garbage_are_ignored():
    headers = signed_headers(SECRET, "msg_1", BODY)
    good = headers["webhook-signature"]
    assert verify({**headers, "webhook-signature": f"v2,abc v1,!!! {good}"}, BODY, SECRET)
    with pytest.raises(WebhookSignatureError):
        verify(
            {**headers, "webhook-signature": "v1a,abc " + good.replace("v1,", "v2,")}, BODY, SECRET
        )


def test_during_rotation_either_secret_verifies():
    old, new = "old plain secret", SECRET
    signed_with_both = signed_headers([old, new], "msg_1", BODY)
    assert len(signed_with_both["webhook-signature"].split()) == 2
    assert verify(signed_with_both, BODY, new) == "msg_1"
    assert verify(signed_with_both, BODY, old) == "msg_1"
    signed_with_old = signed_headers(old, "msg_2", BODY)
    assert verify(signed_with_old, BODY, [new, old]) == "msg_2"


def test_a_str_body_is_signed_as_its_utf8_bytes():
    text = '{"name": "café"}'
    headers = signed_headers(SECRET, "msg_1", text)
    assert verify(headers, text.encode(), SECRET) == "msg_1"


def test_secrets_are_whsec_base64_or_plain_text():
    assert secret_bytes("whsec_" + base64.b64encode(b"key").decode()) == b"key"
    assert secret_bytes("plain") == b"plain"
    with pytest.raises(ValueError, match="base64"):
        secret_bytes("whsec_***")
    with pytest.raises(ValueError, match="empty"):
        secret_bytes("")


def test_a_replay_verifies_again_so_the_caller_must_remember_ids():
    # verify() is stateless: the same delivery passes twice. Replays are caught by the
    # caller recording the returned id in webhook_receipts (unique).
    headers = signed_headers(SECRET, "msg_1", BODY)
    assert verify(headers, BODY, SECRET) == verify(headers, BODY, SECRET) == "msg_1"
