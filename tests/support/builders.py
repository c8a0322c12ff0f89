"""Test data in the carrier's terms: manifests, scans and a controllable clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)
_ids = itertools.count(1)


@dataclass
class Clock:
    """A clock a test moves by hand."""

    now: datetime = T0 + timedelta(days=3)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def tracking(n: int = 1) -> str:
    return f"PF20261122{n:07d}"


def manifest(n: int = 1, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tracking_no": tracking(n),
        "service_level": "standard",
        "origin": "SZX",
        "destination": "SHA",
        "sender": {"name": "王小明", "phone": "13812345678",
                   "address": "广东省深圳市南山区科技园路1号"},
        "receiver": {"name": "李华", "phone": "13987654321",
                     "address": "上海市浦东新区世纪大道100号12楼1203",
                     "email": "li.hua@example.com", "language": "zh-CN"},
        "declared_value": "1200.00",
        "insured": True,
        "postage": "18.00",
        "promised_by": "2026-11-24T18:00:00+08:00",
        "customer_tier": "standard",
        "merchant_id": "shop-123",
    }
    data.update(overrides)
    return data


def scan(scan_type: str, facility: str, hours: float, n: int = 1, *, t0: datetime = T0,
         **extra: Any) -> dict[str, Any]:
    """A wire scan `hours` after `t0` for parcel `n`."""
    return {
        "scan_id": extra.pop("scan_id", f"scan-{next(_ids):06d}"),
        "tracking_no": tracking(n),
        "type": scan_type,
        "occurred_at": (t0 + timedelta(hours=hours)).isoformat(),
        "facility": facility,
        "device_id": f"{facility}-S01",
        **extra,
    }


def journey(n: int = 1, *, t0: datetime = T0) -> list[dict[str, Any]]:
    """SZX outlet -> SZX hub -> SHA hub -> SHA station -> delivered, every scan present."""
    return [
        scan("pickup", "SZX-OUT-07", 0, n, t0=t0),
        scan("departure", "SZX-OUT-07", 1, n, t0=t0, next_facility="SZX-HUB-01"),
        scan("arrival", "SZX-HUB-01", 2, n, t0=t0),
        scan("sort", "SZX-HUB-01", 2.5, n, t0=t0, next_facility="SHA-HUB-02"),
        scan("departure", "SZX-HUB-01", 3, n, t0=t0, next_facility="SHA-HUB-02"),
        scan("arrival", "SHA-HUB-02", 20, n, t0=t0),
        scan("sort", "SHA-HUB-02", 20.5, n, t0=t0, next_facility="SHA-STA-13"),
        scan("departure", "SHA-HUB-02", 21, n, t0=t0, next_facility="SHA-STA-13"),
        scan("arrival", "SHA-STA-13", 23, n, t0=t0),
        scan("out_for_delivery", "SHA-STA-13", 24, n, t0=t0),
        scan("delivered", "SHA-STA-13", 26, n, t0=t0, signed_by="recipient"),
    ]


def on_time(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A manifest promised three days from now: a parcel scanned from `recent_start()` on
    is within its promise (the default promise is long past, and a notification worker
    tells the receiver when a promise is missed)."""
    later = (datetime.now(CST) + timedelta(days=3)).replace(microsecond=0)
    return manifest(n, **{"promised_by": later.isoformat(), **overrides})


def recent_start() -> datetime:
    """A start two days ago, for code that runs on the real clock (the CLI)."""
    return (datetime.now(CST) - timedelta(days=2)).replace(microsecond=0)


def as_scans(*wire: dict[str, Any]) -> list[Any]:
    """Wire scans as domain scans, through the real schema and the bundled network."""
    from parcelflow.application.ingest import scan_from_wire
    from parcelflow.bootstrap import load_network
    from parcelflow.wire.scans import ScanV1

    network = load_network()
    return [scan_from_wire(ScanV1.model_validate(w), network) for w in wire]


def sealed_manifest(n: int = 1, **overrides: Any) -> Any:
    """A domain Manifest with placeholder sealed parties (the domain never opens them)."""
    from decimal import Decimal

    from parcelflow.domain.manifest import Manifest
    from parcelflow.domain.vocabulary import CustomerTier, ServiceLevel

    fields: dict[str, Any] = dict(
        tracking_no=tracking(n), service_level=ServiceLevel.STANDARD, origin="SZX",
        destination="SHA", sender_sealed="v1:sender", receiver_sealed="v1:receiver",
        receiver_language="zh-CN", declared_value=Decimal("1200.00"), insured=True,
        postage=Decimal("18.00"), promised_by=T0 + timedelta(days=2),
        customer_tier=CustomerTier.STANDARD, merchant_id=None, fingerprint="fp-1",
    )
    fields.update(overrides)
    return Manifest(**fields)
