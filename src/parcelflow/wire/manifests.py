"""Manifest wire format v1: what the order system sends when a parcel is booked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Sequence

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
)

from parcelflow.domain.vocabulary import CustomerTier, ServiceLevel
from parcelflow.wire.common import CityCode, Identifier, Money, Timestamp, TrackingNo, text
from parcelflow.wire.reasons import reason

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{6,20}$")]
Email = Annotated[
    str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]


class Party(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: text(64)  # type: ignore[valid-type]
    phone: Phone
    address: text(200)  # type: ignore[valid-type]


class Receiver(Party):
    email: Email | None = None
    language: Language = "zh-CN"


class ManifestV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_no: TrackingNo
    service_level: ServiceLevel
    origin: CityCode
    destination: CityCode
    sender: Party
    receiver: Receiver
    declared_value: Money
    insured: StrictBool
    postage: Money
    promised_by: Timestamp
    customer_tier: CustomerTier = CustomerTier.STANDARD
    merchant_id: Identifier | None = None

    @field_validator("declared_value", "postage")
    @classmethod
    def _non_negative_cents(cls, value: Any) -> Any:
        if not value.is_finite() or value < 0:
            raise ValueError("must be a non-negative amount")
        if value.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("at most two decimal places (CNY fen)")
        return value


@dataclass(frozen=True)
class RejectedManifest:
    reason: str
    tracking_no: str | None = None


def validate_manifest(item: Any) -> ManifestV1 | RejectedManifest:
    if not isinstance(item, dict):
        return RejectedManifest("item must be a JSON object")
    tracking_no = item.get("tracking_no")
    try:
        return ManifestV1.model_validate(item)
    except ValidationError as e:
        return RejectedManifest(reason(e), tracking_no if isinstance(tracking_no, str) else None)


def validate_manifests(items: Sequence[Any]) -> list[ManifestV1 | RejectedManifest]:
    return [validate_manifest(item) for item in items]
