"""What should happen next to a parcel, and when it should arrive.

The DDD sample's "next expected activity": from where the parcel is and what its last
scans announced, the next scan the network expects, and where. The ETA is the last
scan's time plus the typical hours of what is left of the route (linehaul lane hours
from the network, fixed allowances for the first and last mile). Both depend only on
the parcel's events, never on the wall clock, so a rebuilt view equals the live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from parcelflow.domain.manifest import Manifest
from parcelflow.domain.network import Network
from parcelflow.domain.timeline import ParcelState
from parcelflow.domain.vocabulary import FacilityKind, ScanType, Status


@dataclass(frozen=True)
class NextStep:
    activity: str  # a scan type, e.g. "arrival" or "out_for_delivery"
    facility: str | None  # where, when known


@dataclass(frozen=True)
class EtaModel:
    """Typical hours for what the lane table does not cover."""

    to_origin_hub: float = 2.0  # outlet pickup to origin hub, sorted and loaded
    at_hub: float = 1.5  # arrival to departure at a hub
    last_mile: float = 6.0  # destination hub to the receiver's door
    at_station: float = 3.0  # station arrival to delivery
    out_for_delivery: float = 2.0
    redelivery: float = 24.0  # after a failed attempt: next day's round
    customs: float = 24.0


def next_expected(state: ParcelState, manifest: Manifest | None,
                  network: Network) -> NextStep | None:
    here = state.location
    kind = network.kind_of(here) if here else None
    match state.status:
        case Status.REGISTERED:
            return NextStep(str(ScanType.PICKUP), None)
        case Status.PICKED_UP:
            origin_hub = network.hub_of(manifest.origin) if manifest else None
            return NextStep(str(ScanType.ARRIVAL),
                            state.expected_next_facility or (origin_hub.code if origin_hub else None))
        case Status.IN_TRANSIT | Status.RETURNING:
            return NextStep(str(ScanType.ARRIVAL), state.expected_next_facility)
        case Status.IN_CUSTOMS:
            return NextStep(str(ScanType.CUSTOMS_RELEASE), here)
        case Status.AT_FACILITY if kind == FacilityKind.HUB:
            if state.expected_next_facility:  # sorted: loading for the next leg
                return NextStep(str(ScanType.DEPARTURE), here)
            return NextStep(str(ScanType.SORT), here)
        case Status.AT_FACILITY if kind == FacilityKind.PICKUP_POINT:
            return NextStep(str(ScanType.HELD_AT_PICKUP_POINT), here)
        case Status.AT_FACILITY if kind == FacilityKind.STATION:
            return NextStep(str(ScanType.OUT_FOR_DELIVERY), here)
        case Status.AT_FACILITY:
            return NextStep(str(ScanType.DEPARTURE), here)
        case Status.OUT_FOR_DELIVERY:
            return NextStep(str(ScanType.DELIVERED), here)
        case Status.DELIVERY_FAILED:
            return NextStep(str(ScanType.OUT_FOR_DELIVERY), here)
        case Status.AWAITING_PICKUP:
            return NextStep(str(ScanType.PICKED_UP_BY_RECIPIENT), here)
    return None  # delivered, returned, cancelled, disposed, lost: nothing is expected


def _lane_hours(network: Network, origin: str | None, destination: str | None) -> float | None:
    if origin is None or destination is None:
        return None
    if origin == destination:
        return 0.0
    lane = network.lanes.get((origin, destination))
    return lane.hours if lane else None


def typical_trip_hours(network: Network, origin: str, destination: str,
                       model: EtaModel = EtaModel()) -> float | None:
    """The network's fixed hours from pickup in `origin` to the door in `destination`
    (city codes): to the origin hub, the linehaul lane, the last mile. None: no lane."""
    origin_hub, destination_hub = network.hub_of(origin), network.hub_of(destination)
    if origin_hub is None or destination_hub is None:
        return None
    lane = _lane_hours(network, origin_hub.code, destination_hub.code)
    return None if lane is None else model.to_origin_hub + lane + model.last_mile


def estimate_eta(state: ParcelState, manifest: Manifest | None, network: Network,
                 *, revised: datetime | None = None, model: EtaModel = EtaModel()) -> datetime | None:
    """When the parcel should reach its receiver; None when nobody can say."""
    if state.status in (Status.DELIVERED, Status.RETURNED, Status.CANCELLED, Status.DISPOSED,
                        Status.LOST, Status.AWAITING_PICKUP, Status.REGISTERED):
        return None
    if revised is not None:
        return revised  # someone who knows better said so
    if manifest is None or state.last_scan_at is None:
        return None
    hours = _remaining_hours(state, manifest, network, model)
    return None if hours is None else state.last_scan_at + timedelta(hours=hours)


def _remaining_hours(state: ParcelState, manifest: Manifest, network: Network,
                     model: EtaModel) -> float | None:
    destination_hub = network.hub_of(manifest.destination)
    origin_hub = network.hub_of(manifest.origin)
    if destination_hub is None:
        return None
    here = network.facilities.get(state.location or "")
    match state.status:
        case Status.OUT_FOR_DELIVERY:
            return model.out_for_delivery
        case Status.DELIVERY_FAILED:
            return model.redelivery
        case Status.PICKED_UP:
            lane = _lane_hours(network, origin_hub.code if origin_hub else None,
                               destination_hub.code)
            return None if lane is None else model.to_origin_hub + lane + model.last_mile
    if here is None:
        return None
    extra = model.customs if state.status == Status.IN_CUSTOMS else 0.0
    if here.kind in (FacilityKind.STATION, FacilityKind.PICKUP_POINT):
        return extra + model.at_station
    if here.kind == FacilityKind.OUTLET:
        city_hub = network.hub_of(here.city)
        lane = _lane_hours(network, city_hub.code if city_hub else None, destination_hub.code)
        return None if lane is None else extra + model.to_origin_hub + lane + model.last_mile
    # At, or leaving, a hub (or customs): the lane from here to the destination hub.
    if here.code == destination_hub.code:
        return extra + model.last_mile
    hub = here if here.kind == FacilityKind.HUB else network.hub_of(here.city)
    lane = _lane_hours(network, hub.code if hub else None, destination_hub.code)
    if lane is None:
        return None
    stop = model.at_hub if state.status != Status.IN_TRANSIT else 0.0
    return extra + stop + lane + model.last_mile
