"""A realistic day of manifests and scans on a network, for demos, tests and benchmarks.

Parcels are booked at outlets, trucked to their city's hub, sorted, sent down the
linehaul lane to the destination hub, and delivered from a station or a pickup point.
The stream has what real scanners send: retried duplicates, offline uploads that
arrive hours late and out of order, missed scans, misroutes, damage, weather, failed
delivery attempts, refusals, parcels scanned before their manifest, and the odd scanner
whose clock runs ahead. Seeded: the same arguments give the same files.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from parcelflow.domain.network import Facility, Network
from parcelflow.domain.vocabulary import FacilityKind


_SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗") + ["欧阳", "司马"]
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰")
_STREETS = ["人民路", "建设路", "中山路", "解放路", "科技园路", "世纪大道", "文化路", "和平路"]
_DISTRICTS = {
    "SZX": ["南山区", "福田区", "宝安区"], "SHA": ["浦东新区", "徐汇区", "静安区"],
    "HGH": ["西湖区", "滨江区", "拱墅区"], "CAN": ["天河区", "越秀区", "海珠区"],
    "PEK": ["朝阳区", "海淀区", "东城区"], "CTU": ["武侯区", "锦江区", "高新区"],
    "WUH": ["武昌区", "江汉区", "洪山区"], "NKG": ["鼓楼区", "玄武区", "江宁区"],
    "XIY": ["雁塔区", "碑林区", "未央区"], "CKG": ["渝中区", "江北区", "南岸区"],
}
_PROMISE = {"same_day": 10, "express": 24, "standard": 48, "economy": 72}  # hours


@dataclass(frozen=True)
class Rates:
    """How often the things that go wrong go wrong (per parcel, or per scan)."""

    same_city: float = 0.2
    pickup_point: float = 0.1
    misroute: float = 0.03
    damage: float = 0.01
    weather: float = 0.02
    failed_attempt: float = 0.08
    lost: float = 0.003
    missed_scan: float = 0.02
    duplicate: float = 0.03
    late_upload: float = 0.02
    unmanifested: float = 0.01
    clock_ahead: float = 0.001


@dataclass(frozen=True)
class Arrival:
    """One item reaching the server: a manifest or a scan, and when it arrives."""

    at: datetime
    kind: str  # "manifest" or "scan"
    item: dict[str, Any]


@dataclass
class Simulation:
    stream: list[Arrival] = field(default_factory=list)  # in arrival order
    late: set[str] = field(default_factory=set)  # parcels whose manifest came after a scan

    def _items(self, kind: str, late: bool | None = None) -> list[dict[str, Any]]:
        return [a.item for a in self.stream if a.kind == kind
                and (late is None or (a.item["tracking_no"] in self.late) == late)]

    @property
    def manifests(self) -> list[dict[str, Any]]:
        return self._items("manifest", late=False)

    @property
    def late_manifests(self) -> list[dict[str, Any]]:
        return self._items("manifest", late=True)

    @property
    def scans(self) -> list[dict[str, Any]]:
        return self._items("scan")

    @property
    def tracking_nos(self) -> list[str]:
        return [m["tracking_no"] for m in self._items("manifest")]


def tracking_no(day: datetime, serial: int) -> str:
    return f"PF{day:%Y%m%d}{serial:07d}"


def booking_day(now: datetime, hours: float, zone: tzinfo) -> datetime:
    """The date in a simulation's tracking numbers: the day its bookings start, in the
    network's zone."""
    return (now - timedelta(hours=hours)).astimezone(zone)


class _Journey:
    def __init__(self, sim: _Simulator, number: str, start: datetime):
        self.sim, self.number, self.t = sim, number, start
        self.events: list[tuple[datetime, dict[str, Any]]] = []

    def scan(self, scan_type: str, facility: Facility, after_hours: tuple[float, float] = (0, 0),
             **extra: Any) -> None:
        self.t += timedelta(hours=self.sim.rng.uniform(*after_hours))
        self.events.append((self.t, {"type": scan_type, "facility": facility.code, **extra}))


class _Simulator:
    def __init__(self, network: Network, rng: random.Random, now: datetime, rates: Rates):
        self.network, self.rng, self.now, self.rates = network, rng, now, rates
        self.cities = sorted(network.cities)

    def chance(self, rate: float) -> bool:
        return self.rng.random() < rate

    def pick(self, city: str, kind: FacilityKind) -> Facility:
        return self.rng.choice(self.network.in_city(city, kind))

    def person(self, city: str, *, receiver: bool) -> dict[str, Any]:
        rng = self.rng
        name = rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice([1, 2])))
        info = self.network.cities[city]
        prefix = info.name_zh + "市"
        if info.province != info.name_zh:  # not a municipality: the province comes first
            prefix = info.province + "省" + prefix
        address = (f"{prefix}{rng.choice(_DISTRICTS.get(city, ['中心区']))}"
                   f"{rng.choice(_STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋"
                   f"{rng.randint(1, 30)}{rng.randint(1, 9):02d}")
        party: dict[str, Any] = {
            "name": name,
            "phone": "1" + rng.choice("3589") + "".join(rng.choices("0123456789", k=9)),
            "address": address,
        }
        if receiver:
            if self.chance(0.6):
                party["email"] = f"user{rng.randint(1000, 99999)}@example.com"
            party["language"] = "en" if self.chance(0.1) else "zh-CN"
        return party

    def parcel(self, number: str, start: datetime) -> tuple[dict[str, Any], _Journey]:
        rng, rates = self.rng, self.rates
        origin = rng.choice(self.cities)
        destination = origin if self.chance(rates.same_city) else rng.choice(
            [c for c in self.cities if c != origin])
        level = rng.choices(["economy", "standard", "express"], [20, 60, 20])[0]
        if origin == destination and self.chance(0.3):
            level = "same_day"
        value = rng.choice([50, 120, 300, 800, 1200, 3000])
        manifest = {
            "tracking_no": number,
            "service_level": level,
            "origin": origin,
            "destination": destination,
            "sender": self.person(origin, receiver=False),
            "receiver": self.person(destination, receiver=True),
            "declared_value": f"{value}.00",
            "insured": value >= 800 and self.chance(0.7),
            "postage": f"{rng.choice([8, 12, 18, 23, 35])}.00",
            "promised_by": (start + timedelta(hours=_PROMISE[level])).astimezone(
                self.network.zone).isoformat(timespec="seconds"),
            "customer_tier": "vip" if self.chance(0.05) else "standard",
        }
        if self.chance(0.5):
            manifest["merchant_id"] = f"shop-{rng.randint(1, 40):03d}"
        return manifest, self.journey(number, start, origin, destination)

    def journey(self, number: str, start: datetime, origin: str, destination: str) -> _Journey:
        rng, rates, net = self.rng, self.rates, self.network
        j = _Journey(self, number, start)
        hub_o, hub_d = net.hub_of(origin), net.hub_of(destination)
        assert hub_o and hub_d
        outlet = self.pick(origin, FacilityKind.OUTLET)
        to_pickup_point = self.chance(rates.pickup_point)
        last_mile = (self.pick(destination, FacilityKind.PICKUP_POINT) if to_pickup_point
                     else self.pick(destination, FacilityKind.STATION))
        j.scan("pickup", outlet)
        j.scan("departure", outlet, (0.5, 1.5), next_facility=hub_o.code)
        j.scan("arrival", hub_o, (0.5, 2))
        damaged_at = rng.choice([hub_o, hub_d]) if self.chance(rates.damage) else None
        if damaged_at is hub_o:
            j.scan("exception", hub_o, (0.1, 0.3), exception_code="damaged", note="外包装破损")
        first_stop = hub_d if origin != destination else last_mile
        j.scan("sort", hub_o, (0.2, 1), next_facility=first_stop.code)
        if self.chance(rates.weather):
            j.scan("exception", hub_o, (0.1, 0.5), exception_code="weather",
                   note="heavy rain, linehaul held")
            j.t += timedelta(hours=rng.uniform(2, 5))
        j.scan("departure", hub_o, (0.3, 1), next_facility=first_stop.code)
        if self.chance(rates.lost):
            return j  # never scanned again
        if origin != destination:
            here = hub_o
            if self.chance(rates.misroute):
                wrong = rng.choice([f for c in self.cities if c not in (origin, destination)
                                    if (f := net.hub_of(c))])
                j.scan("arrival", wrong, (net.lanes[(hub_o.code, wrong.code)].hours * 0.9,
                                          net.lanes[(hub_o.code, wrong.code)].hours * 1.2))
                j.scan("sort", wrong, (0.3, 1), next_facility=hub_d.code)
                j.scan("departure", wrong, (0.3, 1), next_facility=hub_d.code)
                here = wrong
            hours = net.lanes[(here.code, hub_d.code)].hours
            j.scan("arrival", hub_d, (hours * 0.9, hours * 1.3))
            if damaged_at is hub_d:
                j.scan("exception", hub_d, (0.1, 0.3), exception_code="damaged",
                       note="外包装破损")
            j.scan("sort", hub_d, (0.2, 1), next_facility=last_mile.code)
            j.scan("departure", hub_d, (0.3, 1), next_facility=last_mile.code)
        j.scan("arrival", last_mile, (1, 3))
        if to_pickup_point:
            j.scan("held_at_pickup_point", last_mile, (0.1, 0.5))
            j.scan("picked_up_by_recipient", last_mile, (2, 30))
            return j
        j.scan("out_for_delivery", last_mile, (0.5, 2))
        if self.chance(rates.failed_attempt):
            reason = rng.choices(
                ["recipient_absent", "address_issue", "refused", "held_for_payment"],
                [60, 20, 10, 10])[0]
            j.scan("delivery_attempt", last_mile, (1, 4), attempt_reason=reason)
            if reason == "refused":
                j.scan("return_to_sender", last_mile, (1, 3))
                return j
            j.scan("out_for_delivery", last_mile, (16, 22))
        j.scan("delivered", last_mile, (0.5, 3),
               signed_by=rng.choice(["recipient", "recipient", "family", "reception", "locker"]))
        return j

    def uploads(self, j: _Journey) -> list[tuple[datetime, dict[str, Any]]]:
        """The wire scans of a journey, each with the moment it reaches the server."""
        rng, rates = self.rng, self.rates
        out = []
        for occurred, scan in j.events:
            if occurred > self.now:
                break  # has not happened yet
            facility = self.network.facilities[scan["facility"]]
            if scan["type"] in ("sort", "arrival") and facility.kind != FacilityKind.OUTLET \
                    and self.chance(rates.missed_scan):
                continue  # the scanner missed it
            device = f"{facility.code}-S{rng.randint(1, 12):02d}"
            stamp = occurred
            if self.chance(rates.clock_ahead):
                stamp = occurred + timedelta(hours=1)  # this scanner's clock runs ahead
            wire = {
                "scan_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "tracking_no": j.number,
                **scan,
                # Scanners send local time with its offset.
                "occurred_at": stamp.astimezone(self.network.zone).isoformat(timespec="seconds"),
                "device_id": device,
                "operator_id": f"emp-{rng.randint(1, 400):04d}",
            }
            upload = occurred + timedelta(seconds=rng.uniform(1, 60))
            if self.chance(rates.late_upload):
                upload += timedelta(hours=rng.uniform(2, 8))  # offline scanner, synced later
            if upload <= self.now:
                out.append((upload, wire))
            if self.chance(rates.duplicate):
                retry = upload + timedelta(seconds=rng.uniform(5, 120))
                if retry <= self.now:
                    out.append((retry, dict(wire)))
        return out


def simulate(
    network: Network,
    *,
    parcels: int = 3000,
    now: datetime,
    seed: int = 7,
    first_serial: int = 1,
    hours: float = 36,
    rates: Rates = Rates(),
) -> Simulation:
    """Parcels booked over the `hours` before `now`, with what their scanners sent."""
    rng = random.Random(seed)
    sim = _Simulator(network, rng, now, rates)
    result = Simulation()
    day = booking_day(now, hours, network.zone)
    for k in range(parcels):
        start = now - timedelta(hours=rng.uniform(2, hours))
        manifest, journey = sim.parcel(tracking_no(day, first_serial + k), start)
        uploads = sim.uploads(journey)
        booked = start - timedelta(minutes=rng.uniform(10, 120))
        if sim.chance(rates.unmanifested) and uploads:
            # The order system was late: the hub scanned the parcel first.
            booked = min(now, uploads[0][0] + timedelta(hours=rng.uniform(1, 6)))
            result.late.add(manifest["tracking_no"])
        result.stream.append(Arrival(booked, "manifest", manifest))
        result.stream.extend(Arrival(at, "scan", scan) for at, scan in uploads)
    result.stream.sort(key=lambda a: a.at)
    return result
