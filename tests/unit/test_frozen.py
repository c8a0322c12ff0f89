"""`filled` makes the same frozen objects as their constructors."""

from __future__ import annotations

import dataclasses
import sys
from datetime import timedelta, timezone

import pytest

from parcelflow.domain.frozen import filled
from parcelflow.domain.timeline import Entry, Scan
from parcelflow.domain.vocabulary import ExceptionCode, FacilityKind, ScanType
from tests.support.builders import T0

SCAN = {"scan_id": "s-1", "scan_type": ScanType.DELIVERY_ATTEMPT, "occurred_at": T0,
        "facility": "SHA-STN-05", "device_id": "d-1",
        "attempt_reason": ExceptionCode.RECIPIENT_ABSENT, "facility_kind": FacilityKind.STATION}


def test_a_scan_made_quickly_equals_the_constructed_one_defaults_included():
    quick, built = filled(Scan, SCAN), Scan(**SCAN)
    assert quick == built and quick.note is None and quick.operator_id is None
    assert dataclasses.asdict(quick) == dataclasses.asdict(built)


def test_an_entry_made_quickly_runs_its_post_init_and_stays_frozen():
    scan = Scan(**SCAN)
    values = {"version": 4, "kind": "delivery_attempt", "occurred_at": T0,
              "recorded_at": T0 + timedelta(hours=1), "scan": scan, "detail": {}, "late": True}
    quick, built = filled(Entry, values), Entry(**values)
    assert quick == built and quick.sort_key == built.sort_key and not quick.voided
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.late = False  # type: ignore[misc]


def test_what_the_quick_way_cannot_make_goes_to_the_constructor():
    no_detail = {"version": 1, "kind": "registered", "occurred_at": T0, "recorded_at": T0}
    assert filled(Entry, no_detail).detail == {}  # the default_factory, by the constructor
    with pytest.raises(TypeError):
        filled(Scan, {**SCAN, "colour": "red"})
    with pytest.raises(TypeError):
        filled(Scan, {"scan_id": "s-2"})


def test_a_parcels_timeline_entries_equal_those_the_constructor_makes():
    from parcelflow.domain.parcel import Parcel
    from tests.support.builders import as_scans, journey, sealed_manifest

    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    parcel.record_scans(as_scans(*journey()), recorded_at=T0 + timedelta(days=3))
    assert len(parcel.entries) == 12
    for entry in parcel.entries.values():
        given = {f.name: getattr(entry, f.name) for f in dataclasses.fields(Entry) if f.init}
        built = Entry(**given)
        assert built == entry and list(vars(built).items()) == list(vars(entry).items())
        with pytest.raises(dataclasses.FrozenInstanceError):
            entry.late = True  # type: ignore[misc]


@pytest.mark.parametrize("tz", ["shared", "own", "unhashable"])
def test_timeline_entries_sort_as_the_constructor_sorts_them_in_any_tzinfo(tz):
    # `_add_entry` finds the sort key's time since the epoch inline; the constructor calls
    # `since_epoch`. The same key whichever tzinfo the scans' times carry: the shared one
    # of their offset, an equal one of their own, or one that cannot be a dict key.
    from parcelflow.domain.parcel import Parcel
    from parcelflow.domain.times import zone
    from tests.support.builders import as_scans, journey, sealed_manifest
    from tests.unit.test_times import _Unhashable

    offset = timedelta(hours=8)
    zones = {"shared": zone(offset), "own": timezone(offset), "unhashable": _Unhashable(offset)}
    scans = [dataclasses.replace(s, occurred_at=s.occurred_at.astimezone(zones[tz]))
             for s in as_scans(*journey())]
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    parcel.record_scans(scans, recorded_at=T0 + timedelta(days=3))
    for entry in parcel.entries.values():
        given = {f.name: getattr(entry, f.name) for f in dataclasses.fields(Entry) if f.init}
        assert entry.sort_key == Entry(**given).sort_key
    assert [e.version for e in parcel.state.timeline] == \
        [e.version for e in sorted(parcel.entries.values(),
                                   key=lambda e: (e.occurred_at, e.sort_key[1], e.sort_key[2]))]


def test_a_wire_scan_becomes_the_scan_its_constructor_makes():
    from parcelflow.application.ingest import scan_from_wire
    from parcelflow.bootstrap import load_network
    from parcelflow.wire.scans import ScanV1, validate_scans
    from tests.support.builders import journey

    network = load_network()
    for item in validate_scans(journey(), now=T0 + timedelta(days=3)):
        assert isinstance(item, ScanV1)
        quick = scan_from_wire(item, network)
        given = {f.name: getattr(quick, f.name) for f in dataclasses.fields(Scan)}
        built = Scan(**given)
        assert built == quick and list(vars(built).items()) == list(vars(quick).items())


def _shares_its_keys(obj: object) -> bool:
    """Whether an instance's attributes are in a table sharing the class's keys: such a
    dict is smaller than a plain dict holding the same items."""
    return sys.getsizeof(vars(obj)) < sys.getsizeof(dict(vars(obj)))


def test_the_quick_ways_make_instances_that_share_their_keys():
    """Half a cached parcel's memory is its scans and timeline entries: made the quick
    way, each must be as compact as the constructor's (frozen.py says why)."""
    from parcelflow.application.ingest import scan_from_wire
    from parcelflow.bootstrap import load_network
    from parcelflow.domain.parcel import Parcel
    from parcelflow.domain.scanning import ScanRecorded
    from parcelflow.wire.scans import ScanV1, validate_scans
    from tests.support.builders import as_scans, journey, sealed_manifest

    assert _shares_its_keys(Scan(**SCAN)) and _shares_its_keys(Scan(**SCAN))
    assert _shares_its_keys(filled(Scan, SCAN))  # defaults filled in: still in field order
    network = load_network()
    wire = [scan_from_wire(item, network)
            for item in validate_scans(journey(), now=T0 + timedelta(days=3))
            if isinstance(item, ScanV1)]
    assert wire and all(_shares_its_keys(s) for s in wire)
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    parcel.record_scans(as_scans(*journey()), recorded_at=T0 + timedelta(days=3))
    assert all(_shares_its_keys(e) for e in parcel.entries.values())
    replayed = [e.to_scan() for e in parcel.collect_events() if isinstance(e, ScanRecorded)]
    assert replayed and all(_shares_its_keys(s) for s in replayed)
