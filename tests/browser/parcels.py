"""The browser tests' parcels: real manifests and scans, each telling one story a customer
would look up (a failed delivery attempt, a parcel waiting at a pickup point, one
delivered, one held up by weather)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tests.support.builders import CST, journey, manifest, scan, tracking

RECEIVER_PHONE_LAST4 = "4321"  # the builders' receiver: 13987654321
SENDER_PHONE_LAST4 = "5678"  # and sender: 13812345678


@dataclass(frozen=True)
class Parcels:
    failed: str
    pickup: str
    delivered: str
    weather: str
    limited: str  # for counting wrong proofs up to the limit
    manifests: dict[str, dict[str, Any]]


def _to_station(n: int, t0: datetime) -> list[dict[str, Any]]:
    """Outlet, both hubs, to the delivery station: the builders' journey up to there."""
    return journey(n, t0=t0)[:9]


def seed(site: Any) -> Parcels:
    """Register and scan the parcels on the site, and bring the read models up to date."""
    numbers = [site.new_number() for _ in range(5)]
    failed, pickup, delivered, weather, limited = numbers
    t0 = (datetime.now(CST) - timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
    promised = (t0 + timedelta(days=3)).isoformat()
    manifests = {tracking(n): manifest(n, promised_by=promised) for n in numbers}
    site.register(*manifests.values(), at=t0 - timedelta(hours=2))
    scans = [
        *_to_station(failed, t0),
        scan("out_for_delivery", "SHA-STA-13", 24, failed, t0=t0),
        scan("delivery_attempt", "SHA-STA-13", 26, failed, t0=t0,
             attempt_reason="recipient_absent"),
        *_to_station(pickup, t0)[:8],
        scan("arrival", "SHA-PP-01", 23, pickup, t0=t0),
        scan("held_at_pickup_point", "SHA-PP-01", 23.5, pickup, t0=t0),
        *_to_station(delivered, t0),
        scan("out_for_delivery", "SHA-STA-13", 24, delivered, t0=t0),
        scan("delivered", "SHA-STA-13", 25, delivered, t0=t0, signed_by="李华"),
        *_to_station(weather, t0)[:6],
        scan("exception", "SHA-HUB-02", 20.5, weather, t0=t0, exception_code="weather"),
        *_to_station(limited, t0)[:3],
    ]
    site.scan(*scans)
    site.catch_up()
    return Parcels(tracking(failed), tracking(pickup), tracking(delivered), tracking(weather),
                   tracking(limited), manifests)
