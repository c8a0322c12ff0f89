"""The state a timeline derives is a whole ParcelState, and deriving it leaves the
running fold as it was (the next scans fold on from there)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from parcelflow.application.unit_of_work import replay
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.timeline import ParcelState
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
