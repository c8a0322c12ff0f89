"""Merchant webhooks over HTTP, signed per the Standard Webhooks specification.

Headers `webhook-id` (stable per notification: the merchant deduplicates by it),
`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 of
HMAC-SHA256 over `id.timestamp.body` with the endpoint's secret). The secret itself
never leaves this process, so any Standard Webhooks library verifies the requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from parcelflow.adapters.delivery import DeliveryError

SECRET_PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """An endpoint secret (`whsec_` + base64, as Standard Webhooks hands them out)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "==", validate=False)
    except ValueError as e:
        raise ValueError("a webhook secret must be whsec_ followed by base64") from e
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSender:
    def __init__(self, *, timeout: float = 5.0):
        self._client = httpx.Client(timeout=timeout, follow_redirects=False,
                                    headers={"user-agent": "parcelflow-webhooks/1"})

    def send(self, *, url: str, secret: str, msg_id: str, body: bytes) -> None:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
        }
        try:
            answer = self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryError(f"webhook endpoint unreachable: {type(e).__name__}") from e
        if answer.is_success:
            return
        # 4xx means the merchant refuses this request as it is: trying again won't help,
        # except for "too many requests" and "request timeout".
        permanent = 400 <= answer.status_code < 500 and answer.status_code not in (408, 429)
        raise DeliveryError(f"webhook endpoint answered {answer.status_code}", permanent=permanent)

    def close(self) -> None:
        self._client.close()
