"""The application's ports, as contracts: written once, run against every adapter that
stands for them — the in-memory fakes (tests/unit/test_ports.py) and the SQLite and
PostgreSQL adapters (tests/integration/test_store_contract.py)."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import StoredEvent

from parcelflow.domain.ids import parcel_id
from tests.support.builders import journey, manifest, tracking


def check_key_store(keys: Any) -> None:
    """One key per parcel, created once; an erasure leaves a tombstone for good."""
    ids = [parcel_id(tracking(n)) for n in (1, 2)]
    first = keys.ensure(ids)
    assert keys.ensure(ids) == first and all(len(k) == 32 for k in first.values())
    assert keys.destroy(ids[0]) is True and keys.destroy(ids[0]) is False
    assert keys.ensure(ids) == {ids[0]: None, ids[1]: first[ids[1]]}
    assert keys.keys([parcel_id(tracking(3))]) == {}


def check_parcel_recorder(service: Any) -> None:
    """Many parcels' events in one read, each in version order, as of a log position;
    their versions; who is in the log up to a position; how much follows one."""
    service.register([manifest(1), manifest(2)])
    first = service.ingest(journey(1)[:3] + journey(2)[:2]).position
    service.ingest(journey(1)[3:5])
    recorder = service.recorder
    one, two, three = (parcel_id(tracking(n)) for n in (1, 2, 3))
    events = recorder.select_events_for([one, two, three])
    assert set(events) == {one, two}  # parcel 3 has none
    assert [e.originator_version for e in events[one]] == [1, 2, 3, 4, 5, 6]
    assert [e.originator_version for e in events[two]] == [1, 2, 3]
    assert all(e.topic.startswith("parcelflow.domain.parcel:Parcel.") for e in events[one])
    # What the library's constructor makes, field for field (PostgreSQL makes them quickly).
    for e in events[one]:
        assert type(e) is StoredEvent
        assert vars(e) == vars(StoredEvent(e.originator_id, e.originator_version, e.topic,
                                           e.state))
    # What a folding reader asks for: only the versions it is about to fold.
    inside = recorder.select_events_in({one: range(5, 7), two: range(4, 9), three: range(1, 9)})
    assert set(inside) == {one}  # two has nothing after 3; three has no events at all
    assert [e.originator_version for e in inside[one]] == [5, 6]
    assert [vars(e) for e in inside[one]] == [vars(e) for e in events[one][4:]]
    some = recorder.select_events_in({one: range(2, 4), two: range(1, 3)})
    assert [e.originator_version for e in some[one]] == [2, 3]
    assert [e.originator_version for e in some[two]] == [1, 2]
    assert recorder.select_events_in({}) == {}
    before = recorder.select_events_for([one, two], upto=first)
    assert [len(before[one]), len(before[two])] == [4, 3]
    assert recorder.max_versions([one, two, three]) == {one: 6, two: 3}
    assert set(recorder.parcel_ids(first)) == {one, two}
    head = recorder.max_notification_id()
    assert recorder.count_after(first) == 2 and recorder.count_after(head) == 0
    # A parcel is in the log from its first event on (parcel_ids reads the first events).
    service.register([manifest(4)])
    four = parcel_id(tracking(4))
    assert four not in recorder.parcel_ids(head)
    every = recorder.parcel_ids(recorder.max_notification_id())
    assert sorted(every) == sorted([one, two, four])  # each parcel once
