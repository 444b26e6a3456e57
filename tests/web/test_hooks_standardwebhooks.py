"""Inbound hooks accept what the official Standard Webhooks library signs, and our
signatures verify with it, for `whsec_` secrets padded or not and for plain secrets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from monitor.notify.signing import as_whsec, signed_headers, verify
from tests.web.conftest import WEBHOOK_SECRET, add_history, build_app

BODY = json.dumps({"model": "churn-online-model", "deployment": "churn-online", "reason": "CI"})


def _library_headers(secret: str, webhook_id: str, body: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


def test_the_retrain_hook_accepts_a_delivery_signed_by_the_official_library(db_url):
    app = build_app(db_url)
    add_history(db_url)
    client = app.test_client()
    headers = _library_headers(WEBHOOK_SECRET, "msg_library_1", BODY)
    response = client.post(
        "/hooks/retrain", data=BODY, headers=headers, content_type="application/json"
    )
    assert response.status_code == 202, response.json
    wrong = _library_headers("whsec_" + base64.b64encode(b"not ours").decode(), "msg_2", BODY)
    refused = client.post(
        "/hooks/retrain", data=BODY, headers=wrong, content_type="application/json"
    )
    assert refused.status_code == 401


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_" + base64.b64encode(b"sixteen byte key").decode().rstrip("="),  # unpadded
        "whsec_" + base64.b64encode(b"seventeen byte key").decode(),
    ],
)
def test_whsec_secrets_mean_the_same_key_to_us_and_to_the_library(secret):
    body = '{"type":"drift"}'
    ours = signed_headers(secret, "msg_1", body)
    assert Webhook(secret).verify(body, ours) == {"type": "drift"}
    assert verify(_library_headers(secret, "msg_2", body), body, secret) == "msg_2"


def test_a_plain_secret_is_its_utf8_bytes_which_the_library_takes_as_bytes_or_whsec():
    plain = "correct horse battery staple"
    body = '{"type":"drift"}'
    ours = signed_headers(plain, "msg_1", body)
    assert Webhook(plain.encode()).verify(body, ours) == {"type": "drift"}
    assert Webhook(as_whsec(plain)).verify(body, ours) == {"type": "drift"}
    assert as_whsec(plain) == "whsec_" + base64.b64encode(plain.encode()).decode()
