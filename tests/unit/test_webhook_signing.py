"""Webhook signatures follow Standard Webhooks: the reference library verifies them."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from parcelflow.adapters.webhooks import secret_bytes, sign

SECRET = "whsec_" + base64.b64encode(b"a-merchant-secret-of-32-bytes!!!").decode()


def test_a_signed_request_verifies_with_the_standard_webhooks_library():
    body = b'{"type":"parcel.status_changed","data":{"status":"delivered"}}'
    now = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now),
               "webhook-signature": sign(SECRET, "msg_1", now, body)}
    assert Webhook(SECRET).verify(body, headers)["data"]["status"] == "delivered"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"delivered", b"lost"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, {**headers, "webhook-id": "msg_2"})
    assert SECRET.removeprefix("whsec_") not in str(headers)


def test_secrets_are_read_as_standard_webhooks_hands_them_out():
    assert secret_bytes(SECRET) == b"a-merchant-secret-of-32-bytes!!!"
    with pytest.raises(ValueError):
        secret_bytes("whsec_")
