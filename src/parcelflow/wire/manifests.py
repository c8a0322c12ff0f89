"""Manifest wire format v1: what the order system sends when a parcel is booked."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Collection, Sequence
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    AfterValidator,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
)

from parcelflow.domain.vocabulary import CustomerTier, ServiceLevel
from parcelflow.wire.common import CityCode, Identifier, Money, Timestamp, TrackingNo, text
from parcelflow.wire.reasons import known_key, reason
from parcelflow.wire.tracking_numbers import TrackingNumbers


def _in_the_network(value: str, info: ValidationInfo) -> str:
    cities = (info.context or {}).get("cities")
    if cities is not None and value not in cities:
        raise ValueError("not a city of the network (see PARCELFLOW_NETWORK_FILE)")
    return value


# Validated with the network's cities in the context (the service gives them); without
# a context only the shape is checked.
NetworkCity = Annotated[CityCode, AfterValidator(_in_the_network)]

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
    origin: NetworkCity
    destination: NetworkCity
    sender: Party
    receiver: Receiver
    declared_value: Money
    insured: StrictBool
    postage: Money
    promised_by: Timestamp
    customer_tier: CustomerTier = CustomerTier.STANDARD
    merchant_id: Identifier | None = None


@dataclass(frozen=True)
class RejectedManifest:
    reason: str
    tracking_no: str | None = None


def validate_manifest(item: Any, *, tracking_numbers: TrackingNumbers | None = None,
                      cities: Collection[str] | None = None) -> ManifestV1 | RejectedManifest:
    """A manifest, or why not. With `cities`, origin and destination must be among them."""
    if not isinstance(item, dict):
        return RejectedManifest("item must be a JSON object")
    context = {"tracking_numbers": tracking_numbers, "cities": cities}
    try:
        return ManifestV1.model_validate(item, context=context)
    except ValidationError as e:
        return RejectedManifest(reason(e), known_key(item, "tracking_no", tracking_numbers))


def validate_manifests(items: Sequence[Any], *, tracking_numbers: TrackingNumbers | None = None,
                       cities: Collection[str] | None = None
                       ) -> list[ManifestV1 | RejectedManifest]:
    return [validate_manifest(item, tracking_numbers=tracking_numbers, cities=cities)
            for item in items]
