"""The state a timeline derives is a whole ParcelState, and deriving it leaves the
running fold as it was (the next scans fold on from there)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from parcelflow.application.unit_of_work import replay
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.timeline import ParcelState, Timeline
from tests.support.builders import T0, as_scans, journey, scan, sealed_manifest

NOW = T0 + timedelta(days=3)


def test_the_derived_state_has_every_field_and_equals_one_built_by_its_constructor():
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    parcel.record_scans(as_scans(*journey()[:4], scan("arrival", "HGH-HUB-03", 18)),
                        recorded_at=NOW)
    state = parcel.state
    names = [f.name for f in dataclasses.fields(ParcelState)]
    assert set(vars(state)) >= set(names)
    assert state == ParcelState(**{name: getattr(state, name) for name in names})
    assert state.issues  # the misrouted arrival shows


def test_deriving_state_between_scans_changes_nothing_the_later_scans_see():
    wire = journey()
    stepwise = Parcel.register(sealed_manifest(), recorded_at=T0)
    stepwise.state
    for item in wire:
        stepwise.record_scans(as_scans(item), recorded_at=NOW)
        stepwise.state
    at_once = Parcel.register(sealed_manifest(), recorded_at=T0)
    at_once.record_scans(as_scans(*wire), recorded_at=NOW)
    assert stepwise.state.status == at_once.state.status
    assert stepwise.state.issues == at_once.state.issues == {}
    assert stepwise.state.settled == at_once.state.settled
    assert replay(stepwise.collect_events()).state == stepwise.state


def _timelines() -> list[list[dict]]:
    wire = journey()
    return [
        wire[:1], wire[:4], wire,
        [*wire[:4], scan("arrival", "HGH-HUB-03", 18)],  # misrouted
        [*wire[:3], scan("exception", "SZX-HUB-01", 2.2, exception_code="damaged")],
        [*wire[:3], scan("exception", "SZX-HUB-01", 2.2, exception_code="lost")],  # lost
        [*wire[:3], scan("exception", "SZX-HUB-01", 2.2, exception_code="lost"), wire[5]],
        [wire[-1]],  # delivered before any pickup: an anomaly
        [*wire[:9], scan("delivery_attempt", "SHA-STA-13", 24.5,
                         attempt_reason="address_issue"), *wire[9:]],  # settled
    ]


def test_the_timeline_shows_no_issue_only_when_its_state_lists_none():
    # What lets `reconcile` return early without deriving a ParcelState. (It may say
    # False where the state lists none, e.g. a failed attempt then delivered: the full
    # pass runs then.)
    for wire in _timelines():
        parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
        parcel.record_scans(as_scans(*wire), recorded_at=NOW)
        quiet = parcel.entries.shows_no_issue()
        assert not quiet or not parcel.state.issues, wire
        assert parcel.entries.shows_no_issue() == quiet  # asked again: the same
    for wire in _timelines()[:3]:  # a journey as it goes: the early return is taken
        parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
        parcel.record_scans(as_scans(*wire), recorded_at=NOW)
        assert parcel.entries.shows_no_issue()


def test_reconcile_returning_early_records_what_the_full_pass_records(monkeypatch):
    def recorded(wire: list[dict], split: int) -> list[tuple[type, dict]]:
        parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
        scans = as_scans(*wire)
        parcel.record_scans(scans[:split], recorded_at=NOW)
        parcel.record_scans(scans[split:], recorded_at=NOW + timedelta(minutes=1))
        return [(type(e), vars(e)) for e in parcel.collect_events()]

    for wire in _timelines():
        for split in range(len(wire)):
            quick = recorded(wire, split)
            with monkeypatch.context() as m:
                m.setattr(Timeline, "shows_no_issue", lambda self: False)
                assert recorded(wire, split) == quick, wire
