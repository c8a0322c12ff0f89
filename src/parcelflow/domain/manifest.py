"""A parcel's manifest as the domain keeps it: personal data only as sealed text."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from parcelflow.domain.vocabulary import CustomerTier, ServiceLevel


@dataclass(frozen=True)
class Manifest:
    tracking_no: str
    service_level: ServiceLevel
    origin: str
    destination: str
    # Name, phone, address (and email) of each party, encrypted with the parcel's own
    # key before they reach the domain. The domain never sees them in the clear.
    sender_sealed: str
    receiver_sealed: str
    receiver_language: str
    declared_value: Decimal
    insured: bool
    postage: Decimal
    promised_by: datetime
    customer_tier: CustomerTier
    merchant_id: str | None
    # Keyed hash of the manifest as sent, so a replayed registration is a duplicate
    # and a conflicting one is refused, without storing personal data in the clear.
    fingerprint: str

    def to_event(self) -> dict[str, Any]:
        data = asdict(self)
        data["service_level"] = str(self.service_level)
        data["customer_tier"] = str(self.customer_tier)
        return data

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            **{
                **data,
                "service_level": ServiceLevel(data["service_level"]),
                "customer_tier": CustomerTier(data["customer_tier"]),
            }
        )
