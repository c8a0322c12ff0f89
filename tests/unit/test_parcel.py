"""The Parcel aggregate: what the timeline says, whatever order the scans came in."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from eventsourcing.utils import get_topic

from parcelflow.domain import chain
from parcelflow.domain.errors import DomainError
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.parcel_core import SYSTEM, ParcelEvent
from parcelflow.domain.vocabulary import (
    ExceptionCode,
    ExceptionStatus,
    Flag,
    Outcome,
    ScanType,
    Status,
)
from tests.support.builders import T0, as_scans, journey, scan, sealed_manifest, tracking

NOW = T0 + timedelta(days=3)


def registered() -> Parcel:
    return Parcel.register(sealed_manifest(), recorded_at=T0 - timedelta(hours=1))


def record(parcel: Parcel, *wire: dict, at=NOW) -> list[bool]:
    return parcel.record_scans(as_scans(*wire), recorded_at=at)


def open_codes(parcel: Parcel) -> set[str]:
    return {str(r.code) for r in parcel.open_exceptions}


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def test_every_event_is_stored_as_a_parcel_event_of_its_name_wherever_its_class_lives():
    """A stored topic names its event for good; the module an event class lives in may
    change, the topic may not (eventsourcing resolves it through Parcel.<Name>)."""
    # (eventsourcing defines a Parcel.Created of its own, which nothing triggers)
    events = [e for e in _subclasses(ParcelEvent) if e is not Parcel.Created]
    assert len(events) == 34  # ConditionEnded (issue 16); issue 14's waiting, follow-ups, ratings
    for cls in events:
        assert get_topic(cls) == f"parcelflow.domain.parcel:Parcel.{cls.__name__}"
        assert getattr(Parcel, cls.__name__) is cls


def test_a_full_journey_ends_delivered_with_nothing_to_act_on():
    parcel = registered()
    record(parcel, *journey())
    state = parcel.state
    assert state.status == Status.DELIVERED
    assert state.flags == frozenset()
    assert state.delivered is not None and state.delivered.signed_by == "recipient"
    assert state.location == "SHA-STA-13"
    assert state.missed_scans == ()
    assert parcel.open_exceptions == []


def test_the_id_is_derived_from_the_tracking_number():
    assert registered().id == parcel_id(tracking(1))
    assert Parcel.seen_before_manifest(tracking(1), recorded_at=NOW).id == parcel_id(tracking(1))


@pytest.mark.parametrize(
    ("upto", "status"),
    [(1, Status.PICKED_UP), (2, Status.IN_TRANSIT), (3, Status.AT_FACILITY),
     (5, Status.IN_TRANSIT), (10, Status.OUT_FOR_DELIVERY), (11, Status.DELIVERED)],
)
def test_status_follows_the_last_scan(upto, status):
    parcel = registered()
    record(parcel, *journey()[:upto])
    assert parcel.state.status == status


def test_a_late_scan_lands_in_its_place_and_does_not_move_the_status_back():
    scans = journey()
    late = scans.pop(5)  # the arrival at the destination hub, uploaded after delivery
    parcel = registered()
    record(parcel, *scans)
    record(parcel, late, at=NOW + timedelta(hours=5))
    state = parcel.state
    assert state.status == Status.DELIVERED
    timeline = [e for e in state.timeline if e.scan]
    assert [e.scan.scan_id for e in timeline] == [s["scan_id"] for s in journey_ids(scans, late)]
    landed = next(e for e in timeline if e.scan.scan_id == late["scan_id"])
    assert landed.late and not any(e.late for e in timeline if e is not landed)


def journey_ids(scans, late):
    return sorted([*scans, late], key=lambda s: s["occurred_at"])


def test_a_scan_after_delivery_is_kept_and_raises_a_scan_anomaly():
    parcel = registered()
    record(parcel, *journey())
    stray = scan("arrival", "SHA-HUB-02", 40)
    assert record(parcel, stray) == [True]
    assert parcel.state.status == Status.DELIVERED
    assert any(e.scan and e.scan.scan_id == stray["scan_id"] for e in parcel.state.timeline)
    [anomaly] = [r for r in parcel.open_exceptions if r.code == ExceptionCode.SCAN_ANOMALY]
    assert anomaly.occurrence == stray["scan_id"] and anomaly.auto


def test_a_delivery_before_any_pickup_is_an_anomaly_but_the_parcel_is_delivered():
    parcel = registered()
    record(parcel, scan("delivered", "SHA-STA-13", 5, signed_by="recipient"))
    assert parcel.state.status == Status.DELIVERED
    assert open_codes(parcel) == {"scan_anomaly"}


def test_a_hub_that_sorts_without_an_arrival_scan_is_a_missed_scan_not_an_exception():
    scans = journey()
    del scans[2]  # no arrival at the origin hub
    parcel = registered()
    record(parcel, *scans)
    assert [(m.facility, m.scan_type) for m in parcel.state.missed_scans] == [
        ("SZX-HUB-01", ScanType.ARRIVAL)
    ]
    assert parcel.open_exceptions == []


def test_a_parcel_still_at_a_hub_is_not_missing_its_departure_yet():
    parcel = registered()
    record(parcel, *journey()[:4])  # arrived and sorted, not yet departed
    assert parcel.state.missed_scans == ()


def test_arrival_elsewhere_than_announced_is_misdirected_until_back_on_route():
    parcel = registered()
    record(parcel, *journey()[:5])  # departed SZX hub for SHA-HUB-02
    record(parcel, scan("arrival", "HGH-HUB-03", 18))
    assert Flag.MISDIRECTED in parcel.state.flags
    [exc] = parcel.open_exceptions
    assert exc.code == ExceptionCode.MISDIRECTED and "expected SHA-HUB-02" in exc.detail
    record(parcel, scan("sort", "HGH-HUB-03", 18.5, next_facility="SHA-HUB-02"),
           scan("departure", "HGH-HUB-03", 19, next_facility="SHA-HUB-02"),
           scan("arrival", "SHA-HUB-02", 24))
    assert Flag.MISDIRECTED not in parcel.state.flags
    assert parcel.exceptions[exc.exception_id].status == ExceptionStatus.RESOLVED
    assert parcel.exceptions[exc.exception_id].outcome == Outcome.CLEARED


def test_a_late_departure_that_explains_an_arrival_clears_the_misdirection():
    parcel = registered()
    record(parcel, *journey()[:5])
    record(parcel, scan("arrival", "HGH-HUB-03", 30))
    assert open_codes(parcel) == {"misdirected"}
    # Uploaded late: the parcel was re-sorted at SHA hub and sent on to Hangzhou.
    record(parcel, scan("arrival", "SHA-HUB-02", 20), scan("sort", "SHA-HUB-02", 21,
           next_facility="HGH-HUB-03"), scan("departure", "SHA-HUB-02", 22,
           next_facility="HGH-HUB-03"))
    assert Flag.MISDIRECTED not in parcel.state.flags
    assert parcel.open_exceptions == []


def test_a_system_cleared_exception_that_shows_again_is_reopened():
    parcel = registered()
    record(parcel, *journey()[:5])
    arrival = scan("arrival", "HGH-HUB-03", 30)
    record(parcel, arrival)
    [exc] = parcel.open_exceptions
    departure = scan("departure", "SHA-HUB-02", 22, next_facility="HGH-HUB-03")
    record(parcel, departure)
    assert parcel.open_exceptions == []
    version = parcel.scan_versions[departure["scan_id"]]
    parcel.void(version, reason="scanned the wrong parcel", by="auditor-1", recorded_at=NOW)
    assert [r.exception_id for r in parcel.open_exceptions] == [exc.exception_id]
    assert parcel.exceptions[exc.exception_id].status == ExceptionStatus.OPEN


def test_an_exception_scan_raises_its_code_and_sets_its_flag():
    parcel = registered()
    record(parcel, *journey()[:3], scan("exception", "SZX-HUB-01", 2.2, exception_code="damaged"))
    assert Flag.DAMAGED in parcel.state.flags
    [exc] = parcel.open_exceptions
    assert (exc.code, exc.rule_team, exc.customer_facing) == (ExceptionCode.DAMAGED, "hub", True)


def test_a_scan_before_the_manifest_creates_an_unmanifested_parcel_that_the_manifest_completes():
    parcel = Parcel.seen_before_manifest(tracking(1), recorded_at=NOW)
    record(parcel, *journey()[:3])
    assert parcel.manifest is None and open_codes(parcel) == {"unmanifested"}
    parcel.attach_manifest(sealed_manifest(), recorded_at=NOW + timedelta(hours=1))
    assert parcel.manifest is not None and parcel.open_exceptions == []
    [exc] = parcel.exceptions.values()
    assert exc.outcome == Outcome.MANIFEST_ARRIVED and exc.resolved_by == SYSTEM
    with pytest.raises(DomainError):
        parcel.attach_manifest(sealed_manifest(), recorded_at=NOW)


def test_lost_by_scan_until_a_later_scan_finds_it():
    parcel = registered()
    record(parcel, *journey()[:5], scan("exception", "SZX-HUB-01", 4, exception_code="lost"))
    assert parcel.state.status == Status.LOST and open_codes(parcel) == {"lost"}
    record(parcel, scan("arrival", "SHA-HUB-02", 40))
    assert parcel.state.status == Status.AT_FACILITY
    assert parcel.open_exceptions == []


def test_lost_declared_by_a_detector_is_cleared_by_a_later_scan():
    parcel = registered()
    record(parcel, *journey()[:5])
    parcel.raise_exception(ExceptionCode.LOST, recorded_at=NOW, by="detector:lost")
    assert parcel.state.status == Status.LOST
    record(parcel, scan("arrival", "SHA-HUB-02", 73), at=NOW + timedelta(hours=2))
    assert parcel.state.status == Status.AT_FACILITY
    [exc] = parcel.exceptions.values()
    assert exc.status == ExceptionStatus.RESOLVED and "scanned again" in exc.note


def test_duplicate_scans_change_nothing():
    parcel = registered()
    scans = journey()[:3]
    record(parcel, *scans)
    parcel.collect_events()
    assert record(parcel, *scans) == [False, False, False]
    assert parcel.collect_events() == []


def test_every_event_carries_both_clocks_its_reporter_and_a_hash_chain():
    parcel = registered()
    record(parcel, *journey()[:4])
    events = parcel.collect_events()
    previous = chain.GENESIS
    for event in events:
        assert event.previous_hash == previous
        assert event.event_hash == chain.digest(_topic(event), vars(event))
        previous = event.event_hash
    arrival = events[3]
    assert arrival.occurred_at == T0 + timedelta(hours=2) and arrival.recorded_at == NOW
    assert arrival.device_id == "SZX-HUB-01-S01"


def _topic(event):
    from eventsourcing.utils import get_topic

    return get_topic(type(event))


def test_a_void_takes_a_scan_out_of_the_story_without_deleting_it():
    parcel = registered()
    record(parcel, *journey()[:5])
    wrong = scan("delivered", "SZX-HUB-01", 3.5, signed_by="x")
    record(parcel, wrong)
    assert parcel.state.status == Status.DELIVERED
    version = parcel.scan_versions[wrong["scan_id"]]
    parcel.void(version, reason="scanned by mistake", by="auditor-7", recorded_at=NOW)
    state = parcel.state
    assert state.status == Status.IN_TRANSIT
    voided = next(e for e in state.timeline if e.version == version)
    assert voided.voided and voided.scan.scan_id == wrong["scan_id"]
    with pytest.raises(DomainError):
        parcel.void(version, reason="again", by="auditor-7", recorded_at=NOW)


def test_an_amendment_corrects_a_scan_and_what_followed_from_it():
    parcel = registered()
    record(parcel, *journey()[:5])
    record(parcel, scan("arrival", "HGH-HUB-03", 18))
    assert open_codes(parcel) == {"misdirected"}
    version = max(parcel.entries)  # the exception event is newest; find the arrival
    version = next(v for v, e in parcel.entries.items()
                   if e.scan and e.scan.facility == "HGH-HUB-03")
    parcel.amend_scan(version, {"facility": "SHA-HUB-02", "facility_kind": "hub"},
                      reason="scanner misconfigured", by="auditor-2", recorded_at=NOW)
    assert parcel.state.location == "SHA-HUB-02" and parcel.open_exceptions == []
    with pytest.raises(DomainError):
        parcel.amend_scan(version, {"scan_id": "x"}, reason="r", by="a", recorded_at=NOW)
    with pytest.raises(DomainError):
        parcel.amend_scan(1, {"facility": "X"}, reason="not a scan", by="a", recorded_at=NOW)


def test_staff_exception_workflow_and_idempotent_raising():
    parcel = registered()
    first = parcel.raise_exception(ExceptionCode.ADDRESS_ISSUE, recorded_at=NOW, by="cs-1")
    again = parcel.raise_exception(ExceptionCode.ADDRESS_ISSUE, recorded_at=NOW, by="cs-2")
    assert first == again and len(parcel.exceptions) == 1
    assert Flag.ON_HOLD in parcel.state.flags
    parcel.acknowledge_exception(first, by="cs-1", recorded_at=NOW)
    assert parcel.exceptions[first].acknowledged_by == "cs-1"
    with pytest.raises(DomainError):
        parcel.acknowledge_exception(first, by="cs-1", recorded_at=NOW)
    parcel.resolve_exception(first, Outcome.REDELIVERED, by="cs-1", recorded_at=NOW, note="ok")
    assert Flag.ON_HOLD not in parcel.state.flags
    with pytest.raises(DomainError):
        parcel.resolve_exception(first, Outcome.NO_FAULT, by="cs-1", recorded_at=NOW)
    with pytest.raises(DomainError):
        parcel.acknowledge_exception("no-such-id", by="cs-1", recorded_at=NOW)


def test_one_absent_recipient_is_routine_a_second_needs_action_and_delivery_settles_it():
    parcel = registered()
    record(parcel, *journey()[:10],
           scan("delivery_attempt", "SHA-STA-13", 25, attempt_reason="recipient_absent"))
    assert parcel.state.status == Status.DELIVERY_FAILED and parcel.open_exceptions == []
    record(parcel, scan("out_for_delivery", "SHA-STA-13", 40),
           scan("delivery_attempt", "SHA-STA-13", 41, attempt_reason="recipient_absent"))
    assert open_codes(parcel) == {"recipient_absent"}
    record(parcel, scan("out_for_delivery", "SHA-STA-13", 60),
           scan("delivered", "SHA-STA-13", 61, signed_by="family"))
    [exc] = parcel.exceptions.values()
    assert exc.outcome == Outcome.DELIVERED and not exc.is_open


def test_cancellation_is_terminal_except_for_the_way_back():
    parcel = registered()
    record(parcel, *journey()[:3])
    parcel.cancel(reason="shipper cancelled", by="cs-3", recorded_at=NOW)
    assert parcel.state.status == Status.CANCELLED
    record(parcel, scan("return_to_sender", "SZX-HUB-01", 80), at=NOW + timedelta(hours=9))
    assert parcel.state.status == Status.RETURNING
    record(parcel, scan("delivered", "SZX-OUT-07", 82, signed_by="sender"),
           at=NOW + timedelta(hours=9))
    assert parcel.state.status == Status.RETURNED
    with pytest.raises(DomainError):
        parcel.cancel(reason="again", by="cs-3", recorded_at=NOW)


def test_redirect_promise_and_eta_are_recorded_facts():
    parcel = registered()
    parcel.redirect_receiver("v1:new", reason="customer moved", by="cs-4", recorded_at=NOW)
    parcel.change_promised_time(T0 + timedelta(days=4), reason="weather", by="ops",
                                recorded_at=NOW)
    parcel.revise_eta(T0 + timedelta(days=3), reason="linehaul delay", by="eta", recorded_at=NOW)
    parcel.revise_eta(T0 + timedelta(days=3), reason="same", by="eta", recorded_at=NOW)
    assert parcel.receiver_sealed == "v1:new"
    assert parcel.promised_by == T0 + timedelta(days=4)
    kinds = [e.kind for e in parcel.state.timeline]
    assert kinds.count("eta_revised") == 1 and "receiver_redirected" in kinds


def test_replaying_the_stored_events_rebuilds_the_same_parcel():
    from eventsourcing.application import project_aggregate

    parcel = registered()
    record(parcel, *journey()[:6], scan("arrival", "HGH-HUB-03", 30))
    events = parcel.collect_events()
    copy = project_aggregate(None, events)
    assert copy.state == parcel.state and copy.exceptions == parcel.exceptions
    assert copy.head_hash == parcel.head_hash


def test_a_parcel_just_changed_holds_the_same_timeline_as_its_events_replayed():
    from parcelflow.application.unit_of_work import replay

    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    extra = scan("arrival", "HGH-HUB-03", 18, note="box dented")  # misrouted, with a note
    parcel.record_scans(as_scans(*journey()[:6], extra), recorded_at=T0 + timedelta(days=3))
    events = [*parcel.collect_events()]
    replayed = replay(events)
    assert [e.scan for e in parcel.entries.values()] == [e.scan for e in replayed.entries.values()]
    assert parcel.state == replayed.state


JOURNEY = journey()  # the same scan ids for both runs
_MISROUTED = scan("arrival", "HGH-HUB-03", 18, note="x")


def _workflow(parcel: Parcel) -> list[ParcelEvent]:
    now = T0 + timedelta(days=3)
    parcel.record_scans(as_scans(*JOURNEY[:5], _MISROUTED), recorded_at=now)
    parcel.raise_exception(ExceptionCode.DAMAGED, recorded_at=now, by="cs")
    parcel.revise_eta(T0 + timedelta(days=2), reason="r", by="eta", recorded_at=now)
    parcel.record_scans(as_scans(*JOURNEY[5:]), recorded_at=now)
    return list(parcel.collect_events())


def test_events_are_made_exactly_as_their_constructor_makes_them(monkeypatch):
    from parcelflow.domain import parcel_core

    start = Parcel.register(sealed_manifest(), recorded_at=T0)  # sealing is randomised:
    start.collect_events()  # both runs start from this one parcel
    made_fast = []
    fast = parcel_core._new_event
    monkeypatch.setattr(parcel_core, "_new_event",
                        lambda cls, fields: made_fast.append(cls) or fast(cls, fields))
    ours = _workflow(copy.deepcopy(start))
    monkeypatch.setattr(parcel_core, "_new_event", lambda cls, fields: cls(**fields))
    theirs = _workflow(copy.deepcopy(start))
    assert len(ours) == len(theirs) > 10
    for mine, constructed in zip(ours, theirs, strict=True):
        assert type(mine) is type(constructed)
        assert list(vars(mine).items()) == list(vars(constructed).items())  # order too
    # (Scans are made by record_scans itself: compared with the library's way below.)
    assert {Parcel.ExceptionRaised, Parcel.ExceptionResolved} <= set(made_fast)


def test_an_event_given_a_field_it_lacks_is_refused_by_its_constructor():
    from parcelflow.domain.parcel_core import _new_event

    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    with pytest.raises(TypeError):
        parcel._emit(Parcel.ScanRecorded, recorded_at=T0, scan_id="s1")  # the rest missing
    with pytest.raises(TypeError):
        _new_event(Parcel.Cancelled, {"nonsense": 1})


def _by_trigger_event(parcel: Parcel, scans: list, *, recorded_at) -> list[bool]:
    """`record_scans` the library's way: each event by `trigger_event` (the constructor,
    `mutate`, `apply`, `on`), then `reconcile`."""
    recorded = []
    for s in scans:
        if parcel.has_scan(s.scan_id):
            recorded.append(False)
            continue
        parcel.trigger_event(
            Parcel.ScanRecorded, timestamp=recorded_at, occurred_at=s.occurred_at,
            recorded_at=recorded_at, device_id=s.device_id, operator_id=s.operator_id,
            previous_hash=parcel.head_hash, event_hash="", scan_id=s.scan_id,
            scan_type=str(s.scan_type), facility=s.facility,
            facility_kind=str(s.facility_kind) if s.facility_kind else None,
            next_facility=s.next_facility,
            exception_code=str(s.exception_code) if s.exception_code else None,
            attempt_reason=str(s.attempt_reason) if s.attempt_reason else None,
            signed_by=s.signed_by, note=s.note)
        recorded.append(True)
    if any(recorded):
        parcel.reconcile(recorded_at)
    return recorded


def _parcel_vars(parcel: Parcel) -> dict:
    found = {}
    for name, value in vars(parcel).items():
        if name == "entries":
            timeline = vars(value)
            found[name] = {**timeline, "_fold": vars(timeline["_fold"])}
        elif name == "_pending_events":
            found[name] = [(type(e), list(vars(e).items())) for e in value]
        else:
            found[name] = value
    return found


def test_scans_recorded_without_the_librarys_mutate_leave_the_parcel_trigger_event_leaves(
        monkeypatch):
    from eventsourcing.domain import Aggregate

    from parcelflow.domain import scanning

    # What record_scans does in place of the library's chain is what that chain does:
    # the event mutates the parcel with the library's own `mutate` and our `apply`
    # (ScanRecorded's own `mutate`, for scans read back, is compared with it below).
    monkeypatch.setattr(Parcel.ScanRecorded, "mutate", Aggregate.Event.mutate)
    assert Parcel.ScanRecorded.apply is ParcelEvent.apply
    assert scanning._TOPIC == get_topic(Parcel.ScanRecorded)
    start = Parcel.register(sealed_manifest(), recorded_at=T0)  # sealing is randomised:
    start.collect_events()  # both runs start from this one parcel
    batches = [as_scans(*JOURNEY[:2]),  # nothing but the scans' own events
               as_scans(*JOURNEY[2:5], _MISROUTED), as_scans(JOURNEY[5], JOURNEY[3]),
               as_scans(*JOURNEY[6:], scan("exception", "SHA-STA-13", 25,
                                            exception_code="damaged"))]
    ours, theirs = copy.deepcopy(start), copy.deepcopy(start)
    for n, batch in enumerate(batches):
        at = NOW + timedelta(minutes=n)
        assert ours.record_scans(batch, recorded_at=at) == _by_trigger_event(
            theirs, batch, recorded_at=at)
        assert ours.version == theirs.version and ours.modified_on == theirs.modified_on
        assert _parcel_vars(ours) == _parcel_vars(theirs)
        assert ours.state == theirs.state
    events = list(ours.collect_events())
    assert len(events) > 12 and events == list(theirs.collect_events())


def _recorded_journey() -> list:
    """A parcel's events as stored, in version order: its registration, scans in four
    batches (one scan sent again), a misroute's exception raised and resolved by the
    next scan, and a damage report's raised."""
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    for n, batch in enumerate([as_scans(*JOURNEY[:2]), as_scans(*JOURNEY[2:5], _MISROUTED),
                               as_scans(JOURNEY[5], JOURNEY[3]),
                               as_scans(*JOURNEY[6:], scan("exception", "SHA-STA-13", 25,
                                                            exception_code="damaged"))]):
        parcel.record_scans(batch, recorded_at=NOW + timedelta(minutes=n))
    return list(parcel.collect_events())


def _replayed(events: list) -> Parcel:
    """The parcel the events make, its state asked after every event (so a state left
    cached by an event that should have dropped it shows)."""
    parcel = None
    for event in events:
        parcel = event.mutate(parcel)
        parcel.state  # noqa: B018
    assert isinstance(parcel, Parcel)
    return parcel


def test_a_scan_read_back_mutates_the_parcel_as_the_librarys_mutate_does(monkeypatch):
    from eventsourcing.domain import Aggregate

    events = _recorded_journey()
    scans = [e for e in events if type(e) is Parcel.ScanRecorded]
    assert len(scans) > 10 and len(events) > len(scans) + 1  # other events between them
    ours = [_replayed(events[:n]) for n in range(1, len(events) + 1)]
    with monkeypatch.context() as patched:
        patched.setattr(Parcel.ScanRecorded, "mutate", Aggregate.Event.mutate)
        theirs = [_replayed(events[:n]) for n in range(1, len(events) + 1)]
    for mine, library in zip(ours, theirs):  # after every event, not only the last
        assert mine.version == library.version and mine.modified_on == library.modified_on
        assert _parcel_vars(mine) == _parcel_vars(library)
        assert mine.state == library.state


def test_a_scan_for_another_parcel_or_out_of_turn_is_refused_as_the_library_refuses_it(
        monkeypatch):
    from eventsourcing.domain import Aggregate, OriginatorIDError, OriginatorVersionError

    events = _recorded_journey()
    at = next(i for i, e in enumerate(events) if type(e) is Parcel.ScanRecorded and i > 2)
    other = Parcel.register(sealed_manifest(2), recorded_at=T0)
    cases = [(lambda: _replayed(events[:at - 1]), OriginatorVersionError),  # one skipped
             (lambda: _replayed(events[:at + 1]), OriginatorVersionError),  # one again
             (lambda: other, OriginatorIDError)]
    for make, error in cases:
        refused = []
        for library in (False, True):
            with monkeypatch.context() as patched:
                if library:
                    patched.setattr(Parcel.ScanRecorded, "mutate", Aggregate.Event.mutate)
                parcel = make()
                before = _parcel_vars(copy.deepcopy(parcel))
                with pytest.raises(error) as raised:
                    events[at].mutate(parcel)
                refused.append(raised.value.args)
                assert _parcel_vars(parcel) == before  # refused before anything changed
        assert refused[0] == refused[1]


def test_a_scan_read_back_is_the_scan_its_constructor_makes():
    import dataclasses

    from parcelflow.domain.timeline import Scan
    from parcelflow.domain.vocabulary import ExceptionCode, FacilityKind, ScanType

    events = [e for e in _recorded_journey() if type(e) is Parcel.ScanRecorded]
    # A scan stored without a device (older events), and one with every code set.
    events.append(dataclasses.replace(events[0], device_id=None))
    events.append(dataclasses.replace(events[1], exception_code="damaged",
                                      attempt_reason="recipient_absent", signed_by="front desk",
                                      facility_kind=None))
    assert any(e.exception_code for e in events) and any(e.facility_kind for e in events)
    for e in events:
        made = Scan(scan_id=e.scan_id, scan_type=ScanType(e.scan_type),
                    occurred_at=e.occurred_at, facility=e.facility,
                    device_id=e.device_id or "", operator_id=e.operator_id,
                    next_facility=e.next_facility,
                    exception_code=ExceptionCode(e.exception_code) if e.exception_code else None,
                    attempt_reason=ExceptionCode(e.attempt_reason) if e.attempt_reason else None,
                    signed_by=e.signed_by, note=e.note,
                    facility_kind=FacilityKind(e.facility_kind) if e.facility_kind else None)
        scan_ = e.to_scan()
        assert scan_ == made and list(vars(scan_).items()) == list(vars(made).items())
