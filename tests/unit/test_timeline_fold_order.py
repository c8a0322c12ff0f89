"""A timeline read between additions tells what one read once at the end tells, whatever
order its entries came in: scans, a registration before, between or after them (a
manifest attached late, scans uploaded late), other paperwork, and facts the fold reads
(a cancellation, a loss). The fold reads on from where it was when only paperwork was
read past the new entry (`Timeline._fold_in_before`); this checks it against a fold
from the top."""

from __future__ import annotations

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
