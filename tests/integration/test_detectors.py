"""Detectors on a hand-moved clock, over the real read models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from parcelflow.application.detectors import Detectors
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.parcel_admin import ParcelAdmin
from parcelflow.domain.vocabulary import ExceptionCode, ExceptionStatus, Outcome, Status
from parcelflow.projections.watchlist import Watchlist
from tests.support.builders import T0, journey, manifest, scan, tracking

UTC = timezone.utc
FAR = (T0 + timedelta(days=20)).isoformat()  # a promise nobody breaks in these tests


@pytest.fixture
def detect(service):
    watchlist = Watchlist(service)
    detectors = Detectors(service, watchlist)
    yield detectors
    watchlist.close()


def exceptions_of(service, n=1, code=None):
    parcel = service.get(tracking(n))
    return [r for r in parcel.exceptions.values() if code is None or r.code == code]


def test_a_quiet_parcel_is_stalled_exactly_once_at_its_hour_lost_after_a_week_and_found(
        service, clock, detect):
    clock.now = T0 + timedelta(hours=4)
    service.register([manifest(1, promised_by=FAR), manifest(2, promised_by=FAR,
                                                             service_level="express")])
    service.ingest(journey(1)[:5] + journey(2)[:5])  # both last scanned departing at T0+3h
    quiet_since = T0 + timedelta(hours=3)

    clock.now = quiet_since + timedelta(hours=24, seconds=-1)
    assert detect.run_pass().raised == {}
    clock.now = quiet_since + timedelta(hours=24)  # express: 24 h
    assert detect.run_pass().raised == {"stalled": 1}
    [express] = exceptions_of(service, 2, ExceptionCode.STALLED)
    assert express.raised_at == clock.now and "limit 24 h for express" in express.detail

    clock.now = quiet_since + timedelta(hours=48, seconds=-1)
    assert detect.run_pass().raised == {}
    clock.now = quiet_since + timedelta(hours=48)  # standard: 48 h
    report = detect.run_pass()
    assert report.raised == {"stalled": 1} and report.flagged == 1
    for hours in (1, 5, 30):  # passes keep coming; nothing is raised twice
        clock.now = quiet_since + timedelta(hours=48 + hours)
        assert detect.run_pass().raised == {}
    [stalled] = exceptions_of(service, 1, ExceptionCode.STALLED)
    assert stalled.raised_at == quiet_since + timedelta(hours=48)
    assert stalled.raised_by == "detector:stalled" and stalled.is_open

    # Silent for the complete-delay period (7 days): declared lost, status lost.
    clock.now = quiet_since + timedelta(days=7, seconds=-1)
    assert "lost" not in detect.run_pass().raised
    clock.now = quiet_since + timedelta(days=7)
    assert detect.run_pass().raised == {"lost": 2}
    assert service.get(tracking(1)).state.status == Status.LOST
    clock.advance(hours=6)
    assert detect.run_pass().raised == {}

    # A later scan finds it: lost and stalled are cleared, saying where it turned up.
    clock.advance(hours=1)
    found_at = clock.now - timedelta(minutes=10)
    service.ingest([scan("arrival", "SHA-HUB-02", (found_at - T0).total_seconds() / 3600, 1)])
    parcel = service.get(tracking(1))
    assert parcel.state.status == Status.AT_FACILITY
    [lost] = exceptions_of(service, 1, ExceptionCode.LOST)
    assert lost.status == ExceptionStatus.RESOLVED and lost.outcome == Outcome.MOVING_AGAIN
    assert lost.note == "scanned again at SHA-HUB-02"
    assert not [r for r in parcel.open_exceptions if r.code == ExceptionCode.STALLED]
    clock.advance(hours=1)
    assert detect.run_pass().raised == {}  # a new quiet spell has only just begun
    row = detect.candidates.runners[0].projection.view.get(tracking(1))
    assert row["status"] == "at_facility" and row["open_exceptions"] == 0
    # ... and it stalls again only if it goes quiet again for the whole limit.
    clock.now = found_at + timedelta(hours=48)
    assert detect.run_pass().raised == {"stalled": 1}
    assert len(exceptions_of(service, 1, ExceptionCode.STALLED)) == 2


def test_past_its_promised_time_a_parcel_becomes_delayed_once_with_a_revised_eta(
        service, clock, detect, runners):
    promised = T0 + timedelta(hours=40)
    clock.now = T0 + timedelta(hours=4)
    service.register([manifest(1, promised_by=promised.isoformat())])
    service.ingest(journey(1)[:5])  # left the Shenzhen hub at T0+3h for Shanghai
    clock.now = promised
    assert detect.run_pass().raised == {}  # on time until the promise has passed
    clock.now = promised + timedelta(minutes=1)
    report = detect.run_pass()
    assert report.raised == {"delayed": 1}
    [delayed] = exceptions_of(service, 1, ExceptionCode.DELAYED)
    assert "not delivered by the promised" in delayed.detail
    parcel = service.get(tracking(1))
    assert "delayed" in parcel.state.flags
    # The ETA (T0+34 h) had passed too: the rest of the route from now, the SZX-SHA
    # linehaul's 25.3 h and about 6 h of last mile.
    assert parcel.eta == clock.now + timedelta(hours=31, minutes=18)
    runners["tracking"].run()
    row = runners["tracking"].projection.view.get(tracking(1))
    assert row["eta"] == parcel.eta.astimezone(UTC).isoformat()
    assert any(t["type"] == "eta_revised" for t in row["timeline"])
    for hours in (1, 2):
        clock.advance(hours=hours)
        assert detect.run_pass().raised == {}
    assert len(exceptions_of(service, 1, ExceptionCode.DELAYED)) == 1
    # Delivery settles it.
    service.ingest(journey(1)[5:])
    [delayed] = exceptions_of(service, 1, ExceptionCode.DELAYED)
    assert delayed.status == ExceptionStatus.RESOLVED


def test_an_eta_that_slips_past_the_promise_raises_delayed_before_the_promise_breaks(
        service, clock, detect):
    promised = T0 + timedelta(days=2)
    clock.now = T0 + timedelta(hours=4)
    service.register([manifest(1, promised_by=promised.isoformat())])
    service.ingest(journey(1)[:5])
    assert detect.run_pass().raised == {}
    ParcelAdmin(service).revise_eta(tracking(1), promised + timedelta(hours=10),
                                    reason="truck broke down", by="ops-1")
    assert detect.run_pass().raised == {"delayed": 1}
    assert service.get(tracking(1)).eta == promised + timedelta(hours=10)  # kept
    clock.now = promised + timedelta(hours=1)
    assert detect.run_pass().raised == {}  # the same broken promise


def test_a_parcel_left_at_a_pickup_point_beyond_the_hold_is_pickup_missed(
        service, clock, detect):
    clock.now = T0 + timedelta(hours=30)
    service.register([manifest(1, promised_by=FAR)])
    service.ingest(journey(1)[:8] + [
        scan("arrival", "SHA-PP-01", 23, 1),
        scan("held_at_pickup_point", "SHA-PP-01", 23.5, 1)])
    assert service.get(tracking(1)).state.status == Status.AWAITING_PICKUP
    clock.now = T0 + timedelta(hours=23.5, days=3, seconds=-1)
    assert detect.run_pass().raised == {}
    clock.now = T0 + timedelta(hours=23.5, days=3)
    assert detect.run_pass().raised == {"pickup_missed": 1}  # not stalled: it is waiting
    clock.advance(days=5)
    assert detect.run_pass().raised == {}


def test_misdirection_is_left_to_the_domain_and_a_resolved_stall_is_not_raised_again(
        service, clock, detect):
    clock.now = T0 + timedelta(hours=20)
    service.register([manifest(1, promised_by=FAR)])
    service.ingest(journey(1)[:5] + [scan("arrival", "HGH-HUB-03", 18, 1)])
    assert [str(r.code) for r in service.get(tracking(1)).open_exceptions] == ["misdirected"]
    clock.now = T0 + timedelta(hours=18 + 48)
    assert detect.run_pass().raised == {"stalled": 1}
    [stalled] = exceptions_of(service, 1, ExceptionCode.STALLED)
    ExceptionWorkflow(service).acknowledge(tracking(1), stalled.exception_id, by="ops-2")
    ExceptionWorkflow(service).resolve(tracking(1), stalled.exception_id, Outcome.NO_FAULT,
                                       by="ops-2", note="held for the next linehaul on purpose")
    clock.advance(hours=3)
    assert detect.run_pass().raised == {}  # the same quiet spell, already answered
    assert len(exceptions_of(service, 1, ExceptionCode.MISDIRECTED)) == 1


def test_a_detector_pass_reads_the_views_and_catches_them_up_first(service, clock, detect):
    clock.now = T0 + timedelta(hours=4)
    service.register([manifest(n, promised_by=FAR) for n in range(1, 6)])
    service.ingest([s for n in range(1, 6) for s in journey(n)[:5]])
    clock.now = T0 + timedelta(hours=30)
    assert service.ingest(journey(5)[5:]).accepted == 6  # parcel 5 was delivered
    clock.now = T0 + timedelta(hours=3 + 48)
    tracking_view = detect.candidates.runners[0]
    head = tracking_view.follower.head()
    report = detect.run_pass()  # the views had never run: the pass runs them first
    assert report.raised == {"stalled": 4} and report.candidates == 4
    assert tracking_view.position == head


def test_what_a_pass_changed_reaches_the_views_without_reloading_as_a_rebuild_shows_it(
        service, make_service, database_url, clock):
    """The detectors (in their own process, without an ingest cache, as `parcelflow
    detect` runs) hand the parcels they saved to the views' replicas: the next catch-up
    renders them without reading them back from the store, and the rows are the rows a
    rebuild from the log writes, including a scan stored after the pass."""
    clock.now = T0 + timedelta(hours=4)
    service.register([manifest(n, promised_by=FAR) for n in range(1, 5)])
    service.ingest([s for n in range(1, 5) for s in journey(n)[:5]])
    detecting = make_service(database_url, cache_size=0)
    watchlist = Watchlist(detecting)
    try:
        watchlist.catch_up()
        for r in watchlist.runners:  # as in a detector process started now
            r.projection.replica.forget()
        clock.now = T0 + timedelta(hours=3 + 48)
        assert Detectors(detecting, watchlist).run_pass().raised == {"stalled": 4}
        assert service.ingest(journey(4)[5:6]).accepted == 1  # moving again, after the pass

        loads: list[int] = []
        recorder = detecting.recorder
        read = recorder.select_events_for

        def counted(ids, *args, **kwargs):  # type: ignore[no-untyped-def]
            loads.append(len(ids))
            return read(ids, *args, **kwargs)

        recorder.select_events_for = counted  # type: ignore[method-assign]
        try:
            watchlist.catch_up()
        finally:
            del recorder.select_events_for
        assert loads == []  # nothing loaded: each view had the parcels as saved

        tracking_view, queue = watchlist.runners
        numbers = [tracking(n) for n in range(1, 5)]
        ids = [r.exception_id for n in range(1, 5) for r in exceptions_of(service, n)]
        seen = ([tracking_view.projection.view.get(t) for t in numbers],
                [queue.projection.view.get(i) for i in ids])
        assert all(seen[0]) and len(seen[1]) == 4 and all(seen[1])
        tracking_view.rebuild()
        queue.rebuild()
        assert ([tracking_view.projection.view.get(t) for t in numbers],
                [queue.projection.view.get(i) for i in ids]) == seen
    finally:
        watchlist.close()
