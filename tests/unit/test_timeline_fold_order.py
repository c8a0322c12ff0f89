"""A timeline read between additions tells what one read once at the end tells, whatever
order its entries came in: scans, a registration before, between or after them (a
manifest attached late, scans uploaded late), other paperwork, and facts the fold reads
(a cancellation, a loss). The fold reads on from where it was when only paperwork was
read past the new entry (`Timeline._fold_in_before`); this checks it against a fold
from the top."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from parcelflow.domain.timeline import Entry, Timeline
from parcelflow.domain.vocabulary import ExceptionCode, Fact
from tests.support.builders import T0, as_scans, journey

NOW = T0 + timedelta(days=3)
SCANS = as_scans(*journey())


def _fact(version: int, kind: str, hours: float, **detail: object) -> Entry:
    return Entry(version, kind, T0 + timedelta(hours=hours), NOW, detail=dict(detail))


@st.composite
def stories(draw: st.DrawFn) -> tuple[list[Entry], list[bool]]:
    scans = draw(st.lists(st.sampled_from(range(len(SCANS))), min_size=1, unique=True))
    entries = [Entry(v, SCANS[i].scan_type, SCANS[i].occurred_at, NOW, scan=SCANS[i])
               for v, i in enumerate(sorted(scans), start=2)]
    hour = st.floats(-5, 40, allow_nan=False)
    entries.append(_fact(1, Fact.REGISTERED, draw(hour)))
    paperwork = draw(st.lists(st.sampled_from([Fact.MANIFEST_ATTACHED, Fact.ETA_REVISED,
                                               Fact.EXCEPTION_RESOLVED]),
                              max_size=2))
    read = draw(st.sampled_from(["none", "cancelled", "lost"]))
    extra = [_fact(50 + k, kind, draw(hour)) for k, kind in enumerate(paperwork)]
    if read == "cancelled":
        extra.append(_fact(60, Fact.CANCELLED, draw(hour)))
    elif read == "lost":
        extra.append(_fact(61, Fact.EXCEPTION_RAISED, draw(hour), code=ExceptionCode.LOST))
    order = draw(st.permutations(entries + extra))
    reads = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    return order, reads


@settings(max_examples=400, deadline=None)
@given(stories())
def test_reading_between_additions_tells_what_one_read_at_the_end_tells(story):
    order, reads = story
    as_read = Timeline()
    for entry, read_now in zip(order, reads, strict=True):
        as_read.add(entry)
        if read_now:
            as_read.state(manifested=True, open_flags=frozenset())
    once = Timeline()
    for entry in order:
        once.add(entry)
    assert as_read.state(manifested=True, open_flags=frozenset()) == \
        once.state(manifested=True, open_flags=frozenset())


def test_a_registration_after_the_scans_is_not_read_again_from_the_top():
    timeline = Timeline()
    timeline.add(_fact(1, Fact.REGISTERED, 40))  # registered after the scans' times
    steps = []
    for version, scan in enumerate(SCANS, start=2):
        timeline.add(Entry(version, scan.scan_type, scan.occurred_at, NOW, scan=scan))
        before = timeline._fold  # the fold read on, not a new one
        state = timeline.state(manifested=True, open_flags=frozenset())
        steps.append(timeline._fold is before)
        assert state.last_event.version == version
    assert all(steps)


def _as_defined(timeline: tuple[Entry, ...]) -> tuple[list[Entry], tuple, object, list[int]]:
    """What a state's kept parts are by their definitions (ParcelState's properties)."""
    physical = [e for e in timeline if e.scan and not e.voided]
    return (physical, tuple(e.scan for e in physical if e.scan.facility_kind is None),
            max(e.recorded_at for e in timeline),
            sorted(e.version for e in timeline if e.scan and e.scan.signed_by))


@settings(max_examples=400, deadline=None)
@given(stories(), st.data())
def test_the_parts_a_state_comes_with_are_what_its_timeline_defines(story, data):
    """The standing scans, those at unknown facilities, the latest recording and the
    signed entries, as the fold and the timeline keep them while entries come in any
    order and earlier ones are voided or amended (moved in time, recorded later, the
    signer or the facility changed)."""
    order, reads = story
    timeline = Timeline()
    states = []
    for entry, read_now in zip(order, reads, strict=True):
        if entry.scan is not None and data.draw(st.booleans()):  # at a facility not known
            entry = replace(entry, scan=replace(entry.scan, facility_kind=None))
        timeline.add(entry)
        if read_now:
            timeline.state(manifested=True, open_flags=frozenset())
        scans = [e for e in timeline.values() if e.scan is not None]
        if scans and data.draw(st.booleans()):
            old = data.draw(st.sampled_from(scans))
            scan = replace(old.scan, signed_by=data.draw(st.sampled_from([None, "recipient"])),
                           facility_kind=data.draw(st.sampled_from([None, old.scan.facility_kind])))
            timeline.replace(replace(old, scan=scan, voided=data.draw(st.booleans()),
                                     occurred_at=old.occurred_at + timedelta(
                                         hours=data.draw(st.floats(-30, 30))),
                                     recorded_at=NOW + timedelta(hours=data.draw(
                                         st.sampled_from([-1.0, 0.0, 1.0])))))
        state = timeline.state(manifested=True, open_flags=frozenset())
        physical, unknown, latest, signed = _as_defined(state.timeline)
        if data.draw(st.booleans()):  # asked now; else only at the end, after more came
            assert state.physical == physical
            assert state.unknown_facility_scans == unknown
            assert state.latest_recorded_at == latest
        assert sorted(e.version for e in timeline.signed()) == signed
        states.append(state)
    for state in states:  # each a snapshot: what came after changed none of them
        assert (state.physical, state.unknown_facility_scans,
                state.latest_recorded_at) == _as_defined(state.timeline)[:3]
