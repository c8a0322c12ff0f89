"""What the tracking document says when the system closes an exception itself: what
closed it (the delivery, the parcel moving again, the manifest arriving, a voided scan),
never a staff outcome (issue 16: a delivery closed a weather exception as
"delayed by weather — redelivered")."""

from __future__ import annotations

from tests.support.api import Api
from tests.support.builders import journey, manifest, scan, tracking

RECEIVER_LAST4 = "4321"  # builders' 13987654321


def _send(api: Api, *scans: dict) -> None:
    for item in scans:
        r = api.client.post("/v1/scans", json=[item], headers=api.auth(item["facility"]))
        assert r.json()["accepted"] == 1, r.text


def _closures(api: Api, no: str) -> list[str]:
    api.catch_up("tracking")
    body = api.client.get(f"/v1/parcels/{no}", params={"phone_last4": RECEIVER_LAST4}).json()
    return [t["description"] for t in body["timeline"]
            if t["description"].startswith("Exception closed")]


def test_a_delivery_after_a_weather_attempt_says_the_parcel_was_delivered(api):
    no = tracking(1)
    api.client.post("/v1/parcels", json=manifest(1), headers=api.auth("orders"))
    route = journey(1)
    _send(api, *route[:10],
          scan("delivery_attempt", "SHA-STA-13", 25, 1, attempt_reason="weather"),
          scan("delivery_attempt", "SHA-STA-13", 27, 1, attempt_reason="weather"),
          scan("out_for_delivery", "SHA-STA-13", 48, 1),
          scan("delivered", "SHA-STA-13", 50, 1, signed_by="recipient"))
    closed = _closures(api, no)
    assert closed and set(closed) == {"Exception closed: delayed by weather — the parcel was "
                                      "delivered"}
    assert not any("redelivered" in line for line in closed)


def test_the_manifest_arriving_after_the_first_scan_says_so(api):
    no = tracking(2)
    _send(api, *journey(2)[:2])
    api.client.post("/v1/parcels", json=manifest(2), headers=api.auth("orders"))
    assert _closures(api, no) == [
        "Exception closed: scanned before its manifest arrived — the manifest arrived"]
