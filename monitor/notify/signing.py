"""Standard Webhooks signatures, for outbound events and inbound requests alike.

A delivery carries three headers: `webhook-id` (stable across retries of one message),
`webhook-timestamp` (integer seconds since the epoch) and `webhook-signature`, a space-separated
list of `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>` so that a sender may
sign with an old and a new secret while a secret is being rotated.

Secrets written `whsec_<base64>` (the specification's format) are base64-decoded, padded or
not, as the official `standardwebhooks` library does: give such a receiver the same string.
Any other string (a "plain" secret, e.g. from a password manager) is used as its UTF-8
bytes; a receiver using the library verifies it with `Webhook(secret.encode())` or with
`Webhook("whsec_" + base64(secret))`, which `as_whsec()` computes.

`verify()` checks authenticity and freshness only. Replay protection is the caller's job:
record the returned `webhook-id` (the `webhook_receipts` table, whose id is unique) and treat
a second delivery with the same id as a replay, returning the first outcome.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

from monitor.errors import WebhookSignatureError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE = 300  # seconds either side of now


def secret_bytes(secret: str | bytes) -> bytes:
    """The HMAC key for a secret given as `whsec_<base64>`, plain text, or bytes."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        encoded = secret.removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error as error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from error
        if not key:
            raise ValueError("a whsec_ secret must not be empty after the prefix")
        return key
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    return secret.encode()


def as_whsec(secret: str | bytes) -> str:
    """The secret in the specification's `whsec_<base64>` form, for receivers that want it."""
    if isinstance(secret, str) and secret.startswith("whsec_"):
        return secret
    return "whsec_" + base64.b64encode(secret_bytes(secret)).decode()


def sign(secret: str | bytes, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `v1,<base64>` signature of one delivery."""
    raw = body.encode() if isinstance(body, str) else body
    content = f"{webhook_id}.{timestamp}.".encode() + raw
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secrets: str | bytes | Iterable[str | bytes],
    webhook_id: str,
    body: bytes | str,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three headers for a delivery, signed with each secret given (rotation)."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    signature = " ".join(sign(key, webhook_id, timestamp, body) for key in keys)
    return {ID_HEADER: webhook_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature}


def verify(
    headers: Mapping[str, str],
    raw_body: bytes | str,
    secret: str | bytes | Iterable[str | bytes],
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str:
    """Check a delivery's signature over the raw body and its timestamp; return its id.

    `secret` may be several secrets (rotation): any one matching is enough. Raises
    WebhookSignatureError naming what is wrong: a missing header, a malformed timestamp,
    a timestamp more than `tolerance` seconds old or ahead, or no matching signature.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    webhook_id = _required(lowered, ID_HEADER)
    timestamp_text = _required(lowered, TIMESTAMP_HEADER)
    signatures = _required(lowered, SIGNATURE_HEADER)
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise WebhookSignatureError(
            f"{TIMESTAMP_HEADER} is not integer seconds: {timestamp_text[:40]!r}"
        ) from None
    now = time.time() if now is None else now
    if timestamp < now - tolerance:
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is too old (more than {tolerance}s)")
    if timestamp > now + tolerance:
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is in the future (more than {tolerance}s)")
    keys = [secret] if isinstance(secret, str | bytes) else list(secret)
    expected = [sign(key, webhook_id, timestamp, raw_body).encode() for key in keys]
    offered = [part.encode() for part in signatures.split() if part.startswith("v1,")]
    matched = False
    for candidate in offered:
        for wanted in expected:
            # Every pair is compared so the time taken does not depend on which one matched.
            matched |= hmac.compare_digest(candidate, wanted)
    if not matched:
        raise WebhookSignatureError("no valid v1 signature in webhook-signature")
    return webhook_id


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise WebhookSignatureError(f"missing {name} header")
    return value
