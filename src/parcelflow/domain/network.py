"""The carrier's network: cities, facilities and the linehaul lanes between hubs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from parcelflow.domain.vocabulary import FacilityKind


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class City:
    code: str
    name_zh: str
    name_en: str
    province: str


@dataclass(frozen=True)
class Facility:
    code: str
    kind: FacilityKind
    name_zh: str
    name_en: str
    city: str
    timezone: str
    gln: str | None = None  # GS1 Global Location Number, when the carrier has one for it


@dataclass(frozen=True)
class Lane:
    origin: str  # hub code
    destination: str  # hub code
    km: int
    hours: float


@dataclass(frozen=True)
class Network:
    cities: dict[str, City]
    facilities: dict[str, Facility]
    lanes: dict[tuple[str, str], Lane]
    _hubs: dict[str, Facility] = field(default_factory=dict, init=False, repr=False,
                                       compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Network:
        return cls(
            cities={
                c["code"]: City(c["code"], c["name_zh"], c["name_en"], c.get("province", ""))
                for c in data["cities"]
            },
            facilities={
                f["code"]: Facility(
                    f["code"], FacilityKind(f["kind"]), f["name_zh"], f["name_en"], f["city"],
                    f["timezone"], _gln(f["code"], f.get("gln")),
                )
                for f in data["facilities"]
            },
            lanes={
                (lane["from"], lane["to"]): Lane(lane["from"], lane["to"], lane["km"], lane["hours"])
                for lane in data["lanes"]
            },
        )

    @cached_property
    def zone(self) -> tzinfo:
        """The network's own time zone: where its calendar days are counted (claim
        periods, "today" in the statistics) and the zone its people read times in
        (staff screens, customer messages). Its first facility's (the bundled network
        is all in Asia/Shanghai); UTC for an empty registry."""
        first = next(iter(self.facilities.values()), None)
        return _zone(first.timezone) if first else timezone.utc

    def zone_at(self, facility: str | None) -> tzinfo:
        """A facility's own time zone, where its calendar days are counted (its daily
        statistics); UTC for a facility the registry does not know."""
        found = self.facilities.get(facility or "")
        return _zone(found.timezone) if found else timezone.utc

    def city_of(self, facility: str | None) -> City | None:
        """The city a facility is in (None: an unknown facility, or a city the registry
        does not describe)."""
        found = self.facilities.get(facility or "")
        return self.cities.get(found.city) if found else None

    def kind_of(self, facility: str) -> FacilityKind | None:
        """The facility's kind, or None when the registry does not know it."""
        found = self.facilities.get(facility)
        return found.kind if found else None

    def in_city(self, city: str, kind: FacilityKind) -> list[Facility]:
        return [f for f in self.facilities.values() if f.city == city and f.kind == kind]

    def hub_of(self, city: str) -> Facility | None:
        return self._hubs.get(city)

    def __post_init__(self) -> None:
        hubs: dict[str, Facility] = {}
        for facility in self.facilities.values():
            if facility.kind == FacilityKind.HUB:
                hubs.setdefault(facility.city, facility)
        object.__setattr__(self, "_hubs", hubs)


def gs1_check_digit(digits: str) -> str:
    """GS1's mod-10 check digit: weights 3 and 1 alternating from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str(-total % 10)


def _gln(facility: str, gln: str | None) -> str | None:
    if gln is None:
        return None
    if not (len(gln) == 13 and gln.isdigit() and gs1_check_digit(gln[:12]) == gln[12]):
        raise ValueError(f"facility {facility}: gln must be 13 digits with a valid GS1 check digit")
    return gln
