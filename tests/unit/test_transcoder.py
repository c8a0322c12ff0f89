"""orjson encodes exactly what the library's transcoder would, byte for byte."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from decimal import Decimal
from uuid import uuid4

import orjson
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from eventsourcing.utils import get_topic

from parcelflow.adapters.transcoder import OrjsonTranscoder, ParcelMapper
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.vocabulary import ExceptionCode
from tests.support.builders import T0, as_scans, journey, scan, sealed_manifest


def transcoders() -> tuple[JSONTranscoder, JSONTranscoder]:
    pair = (JSONTranscoder(), OrjsonTranscoder())
    for t in pair:
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            t.register(transcoding)
    return pair


def workflow_events() -> list:
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    now = T0 + timedelta(days=3)
    parcel.record_scans(as_scans(*journey()[:5], scan("arrival", "HGH-HUB-03", 18, note="破损 \"x\"\n")),
                        recorded_at=now)
    parcel.raise_exception(ExceptionCode.DAMAGED, recorded_at=now, by="cs")
    parcel.amend_scan(3, {"occurred_at": T0}, reason="clock", by="a", recorded_at=now)
    parcel.revise_eta(T0 + timedelta(days=2), reason="r", by="eta", recorded_at=now)
    parcel.change_promised_time(T0 + timedelta(days=4), reason="r", by="cs", recorded_at=now)
    return list(parcel.collect_events())


def test_every_kind_of_event_is_stored_as_the_library_would_store_it():
    library, ours = transcoders()
    events = workflow_events()
    assert len({type(e) for e in events}) >= 5
    for event in events:
        state = dict(vars(event))
        assert ours.encode(state) == library.encode(state)
        assert ours.decode(library.encode(state)) == library.decode(library.encode(state))


def test_objects_holding_uuids_keep_their_type():
    library, ours = transcoders()
    obj = {"id": uuid4(), "nested": {"amount": Decimal("1.50"), "at": [T0, {"x": T0}]}}
    assert ours.decode(ours.encode(obj)) == obj == library.decode(library.encode(obj))


def test_uuids_one_level_down_keep_their_type_too():
    library, ours = transcoders()
    for obj in ({"ids": [uuid4(), uuid4()]}, {"refs": {"parcel": uuid4()}},
                {"pair": (1, uuid4())}, [{"plain": "x"}, uuid4()]):
        assert ours.decode(ours.encode(obj)) == library.decode(library.encode(obj))
        assert ours.encode(obj) == library.encode(obj)


def test_the_mapper_stores_every_kind_of_event_as_the_library_would():
    library, ours = transcoders()
    theirs, mapper = Mapper(library), ParcelMapper(ours)
    events = workflow_events()
    for event in events:
        stored = mapper.to_stored_event(event)
        assert stored == theirs.to_stored_event(event)
        assert vars(theirs.to_domain_event(stored)) == vars(event)
    # The short way was taken for the flat events (else this test would prove nothing).
    assert mapper._plans[Parcel.ScanRecorded] is not None
    assert mapper._plans[Parcel.EtaRevised] is not None
    assert mapper._plans[Parcel.Registered] is None


def test_an_event_holding_more_than_its_fields_takes_the_library_path():
    library, ours = transcoders()
    event = next(e for e in workflow_events() if isinstance(e, Parcel.ScanRecorded))
    odd = Mapper(library).to_domain_event(Mapper(library).to_stored_event(event))
    odd.__dict__["extra"] = uuid4()
    assert ParcelMapper(ours).to_stored_event(odd) == Mapper(library).to_stored_event(odd)


def test_the_mapper_reads_every_kind_of_event_back_as_the_library_would():
    library, ours = transcoders()
    theirs, mapper = Mapper(library), ParcelMapper(ours)
    for event in workflow_events():
        stored = theirs.to_stored_event(event)
        mine, expected = mapper.to_domain_event(stored), theirs.to_domain_event(stored)
        assert type(mine) is type(expected)
        assert list(vars(mine).items()) == list(vars(expected).items())
    assert mapper._topics[get_topic(Parcel.ScanRecorded)] is not None  # the short way ran


def test_a_stored_flat_event_holding_another_type_is_read_the_library_way():
    library, ours = transcoders()
    theirs = Mapper(library)
    event = next(e for e in workflow_events() if isinstance(e, Parcel.ScanRecorded))
    stored = theirs.to_stored_event(event)
    odd_state = orjson.loads(stored.state)
    odd_state["note"] = {"_type_": "decimal_str", "_data_": "1.50"}  # an old writer's value
    odd = replace(stored, state=orjson.dumps(odd_state))
    assert vars(ParcelMapper(ours).to_domain_event(odd)) == vars(theirs.to_domain_event(odd))
    assert ParcelMapper(ours).to_domain_event(odd).note == Decimal("1.50")


def test_the_same_instant_in_two_offsets_is_stored_in_each_offset():
    # The mapper remembers the text of the last datetimes it stored (by identity): an
    # equal instant written in another offset must still be stored as written.
    library, ours = transcoders()
    theirs, mapper = Mapper(library), ParcelMapper(ours)
    event = next(e for e in workflow_events() if isinstance(e, Parcel.ScanRecorded))
    utc = T0.astimezone(timezone.utc)
    shanghai = T0.astimezone(timezone(timedelta(hours=8)))
    assert utc == shanghai
    for at in (utc, shanghai, utc, utc.replace(), shanghai):
        moved = replace(event, occurred_at=at, recorded_at=at, timestamp=at)
        stored = mapper.to_stored_event(moved)
        assert stored == theirs.to_stored_event(moved)
        assert at.isoformat().encode() in stored.state


def test_times_read_back_keep_their_offset_and_share_its_tzinfo():
    library, ours = transcoders()
    theirs, mapper = Mapper(library), ParcelMapper(ours)
    scans = [e for e in workflow_events() if isinstance(e, Parcel.ScanRecorded)]
    read = [mapper.to_domain_event(theirs.to_stored_event(e)) for e in scans]
    for mine, event in zip(read, scans, strict=True):
        assert mine.occurred_at == event.occurred_at
        assert mine.occurred_at.isoformat() == event.occurred_at.isoformat()
    assert len({id(e.occurred_at.tzinfo) for e in read}) == 1  # one offset, one object


def test_times_of_every_kind_of_offset_are_stored_as_the_library_stores_them():
    # orjson writes the datetime itself where its text is isoformat()'s (whole-minute
    # fixed offsets); a seconds offset, a zone and a naive time go through isoformat().
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from parcelflow.adapters.transcoder import written_as_isoformat

    library, ours = transcoders()
    theirs, mapper = Mapper(library), ParcelMapper(ours)
    event = next(e for e in workflow_events() if isinstance(e, Parcel.ScanRecorded))
    zones = [timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30)),
             timezone(timedelta(hours=23, minutes=59)), timezone(timedelta(hours=5, seconds=15)),
             timezone(timedelta(microseconds=5)), ZoneInfo("Europe/Berlin"),
             ZoneInfo("Europe/Amsterdam"), None]
    for tz in zones:
        for at in (datetime(2026, 11, 22, 8, 15, 3, tzinfo=tz),
                   datetime(2026, 11, 22, 8, 15, 3, 120, tzinfo=tz),
                   datetime(1890, 1, 1, tzinfo=tz), datetime(9999, 12, 31, 23, 59, tzinfo=tz)):
            moved = replace(event, occurred_at=at, recorded_at=at, timestamp=at)
            stored = mapper.to_stored_event(moved)
            assert stored == theirs.to_stored_event(moved), (tz, at)
            assert at.isoformat().encode() in stored.state
    assert [written_as_isoformat(tz) for tz in zones] == [True] * 4 + [False] * 5


def test_a_stored_event_made_quickly_is_the_one_its_constructor_makes():
    import dataclasses

    import pytest
    from eventsourcing.persistence import StoredEvent

    from parcelflow.adapters.transcoder import stored_event

    pid = uuid4()
    quick, made = stored_event(pid, 3, "t:T", b"{}"), StoredEvent(pid, 3, "t:T", b"{}")
    assert quick == made and list(vars(quick).items()) == list(vars(made).items())
    assert type(quick) is StoredEvent and hash(quick) == hash(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.topic = "x"  # type: ignore[misc]
