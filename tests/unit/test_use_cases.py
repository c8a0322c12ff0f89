"""Each use case's application service on the fakes (events and keys in memory): what it
answers (the case it acted on, the log position its events reached), what it seals,
what it refuses. The same services run on SQLite and PostgreSQL in tests/integration."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from parcelflow.application.claims import Claims
from parcelflow.application.complaints import Complaints
from parcelflow.application.corrections import Corrections
from parcelflow.application.erasure import Erasure
from parcelflow.application.errors import ParcelNotFound, TextTooLong
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.parcel_admin import ParcelAdmin
from parcelflow.application.unit_of_work import UnitOfWork
from parcelflow.domain.errors import DomainError
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.vocabulary import (
    Channel,
    ClaimCause,
    ComplaintCategory,
    ExceptionCode,
    FacilityKind,
    Outcome,
    Status,
)
from tests.support.builders import Clock, journey, manifest, scan, tracking
from tests.support.in_memory import in_memory_service


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock):
    svc = in_memory_service(clock)
    svc.register([manifest(1), manifest(2, insured=False, postage="12.00")])
    svc.ingest(journey(1)[:5] + journey(2)[:5])
    return svc


def last_event(service, position: int) -> str:
    [note] = service.recorder.select_notifications(start=position, limit=1)
    return note.topic.rsplit(".", 1)[-1]


def written(service, after: int, position: int) -> list[str]:
    """The events in the log after `after`, up to `position`."""
    notes = service.recorder.select_notifications(start=after, limit=100, stop=position,
                                                  inclusive_of_start=False)
    return [n.topic.rsplit(".", 1)[-1] for n in notes]


def test_the_exception_workflow_answers_each_step_with_its_case_and_position(service, clock):
    flow = ExceptionWorkflow(service)
    raised = flow.raise_exception(tracking(1), ExceptionCode.DAMAGED, by="hub-1")
    assert last_event(service, raised.position) == "ExceptionRaised"
    assert service.get(tracking(1)).exceptions[raised.case_id].code == ExceptionCode.DAMAGED
    clock.advance(minutes=5)
    taken = flow.acknowledge(tracking(1), "damaged", by="cs-anna")  # by its code
    assert (taken.case_id, last_event(service, taken.position)) == (
        raised.case_id, "ExceptionAcknowledged")
    called = flow.contact(tracking(1), raised.case_id[:6], Channel.PHONE, by="cs-anna",
                          summary="rang 13987654321")
    assert called.case_id == raised.case_id and called.position > taken.position
    assert flow.show(tracking(1), raised.case_id)["contacts"][0]["summary"] == "[sealed]"
    assert flow.show(tracking(1), raised.case_id, reveal=True)["contacts"][0]["summary"] == \
        "rang 13987654321"
    with pytest.raises(DomainError, match="assigned to cs-anna"):
        flow.resolve(tracking(1), raised.case_id, Outcome.NO_FAULT, by="cs-bob")
    escalated = flow.escalate(tracking(1), raised.case_id, by="sup-wang", reason="away",
                              assignee="sup-wang", by_supervisor=True)
    assert service.get(tracking(1)).exceptions[raised.case_id].escalated_to == "cs_supervisors"
    done = flow.resolve(tracking(1), raised.case_id, Outcome.NO_FAULT, by="sup-wang")
    assert done.position > escalated.position
    assert not service.get(tracking(1)).exceptions[raised.case_id].is_open
    with pytest.raises(TextTooLong):
        flow.contact(tracking(1), raised.case_id, Channel.EMAIL, by="x", summary="x" * 4001)
    with pytest.raises(ParcelNotFound):
        flow.acknowledge(tracking(9), "damaged", by="cs-anna")


def test_raising_an_open_code_again_records_nothing_and_names_the_open_one(service):
    flow = ExceptionWorkflow(service)
    first = flow.raise_exception(tracking(1), ExceptionCode.DELAYED, by="ops")
    service.ingest([scan("arrival", "SHA-HUB-02", 20, 2)])  # the log moves on
    head = service.recorder.max_notification_id()
    again = flow.raise_exception(tracking(1), ExceptionCode.DELAYED, by="ops")
    assert again.case_id == first.case_id
    assert again.position == head == service.recorder.max_notification_id()


def test_a_complaint_is_sealed_linked_and_filed_once_per_reference(service):
    flow, complaints = ExceptionWorkflow(service), Complaints(service)
    delayed = flow.raise_exception(tracking(1), ExceptionCode.DELAYED, by="ops").case_id
    filed = complaints.file(tracking(1), ComplaintCategory.DELAY, Channel.PHONE,
                            words="三天了 13987654321", by="cs-1", reference="C-1")
    again = complaints.file(tracking(1), ComplaintCategory.DELAY, Channel.PHONE,
                            words="again", by="cs-1", reference="C-1")
    assert again.case_id == filed.case_id and again.position == filed.position
    shown = complaints.show(tracking(1), filed.case_id)
    assert shown["links"] == [delayed] and shown["words"] == "[sealed]"
    assert complaints.show(tracking(1), filed.case_id, reveal=True)["words"] == "三天了 13987654321"
    assert "13987654321" not in str(service.get(tracking(1)).complaints)  # stored sealed
    closed = complaints.close(tracking(1), filed.case_id[:5], Outcome.REDELIVERED, by="cs-1",
                              customer_confirmed=True)
    assert closed.case_id == filed.case_id
    assert complaints.show(tracking(1), filed.case_id)["status"] == "closed"


def test_a_claim_is_assessed_by_the_policy_settled_and_paid(service):
    ExceptionWorkflow(service).raise_exception(tracking(2), ExceptionCode.LOST, by="ops")
    claims = Claims(service)
    filed = claims.file(tracking(2), ClaimCause.LOST, Decimal("80.00"), evidence=["receipt"],
                        by="cs-2")
    assessed = claims.assess(tracking(2), "lost", by="adjuster")  # by its cause
    assert assessed.case_id == filed.case_id
    assert assessed.assessment is not None
    assert (assessed.assessment.payable, assessed.assessment.basis) == (Decimal("36.00"),
                                                                         "uninsured")
    approved = claims.approve(tracking(2), filed.case_id, by="mgr", amount=Decimal("30.00"))
    paid = claims.pay(tracking(2), filed.case_id, by="finance", payment_ref="PAY-1")
    assert (approved.amount, paid.amount) == (Decimal("30.00"), Decimal("30.00"))
    assert last_event(service, paid.position) == "ClaimPaid"
    with pytest.raises(DomainError, match="has no damaged exception"):
        claims.file(tracking(2), ClaimCause.DAMAGED, Decimal("5"), evidence=["p"], by="cs-2")


def test_corrections_amend_with_the_registrys_facility_kind_and_void(service):
    corrections = Corrections(service)
    parcel = service.get(tracking(1))
    arrival = next(e.scan.scan_id for e in parcel.entries.values()
                   if e.scan and e.scan.scan_type == "arrival")
    version = parcel.scan_versions[arrival]
    before = service.recorder.max_notification_id()
    amended = corrections.amend(tracking(1), arrival, facility="SHA-STA-13",
                                reason="wrong site", by="auditor")
    assert (amended.target_version, amended.version) == (version, parcel.version + 1)
    entry = service.get(tracking(1)).entries[version]
    assert (entry.scan.facility, entry.scan.facility_kind) == ("SHA-STA-13",
                                                               FacilityKind.STATION)
    # Arrived where the route did not expect, now: the amendment raises what it shows,
    # and the position answered is the last of what it wrote.
    assert written(service, before, amended.position) == ["ScanAmended", "ExceptionRaised"]
    assert amended.position == service.recorder.max_notification_id()
    corrections.void(tracking(1), arrival, reason="never happened", by="auditor")
    assert service.get(tracking(1)).entries[version].voided
    with pytest.raises(DomainError, match="already voided"):
        corrections.void(tracking(1), arrival, reason="again", by="auditor")


def test_parcel_admin_seals_a_new_receiver_and_cancels(service, clock):
    admin = ParcelAdmin(service)
    admin.redirect_receiver(tracking(1), {"name": "张三", "phone": "13700001111",
                                          "address": "上海市徐汇区漕溪北路88号"},
                            reason="moved", by="cs-5")
    parcel = service.get(tracking(1))
    assert "13700001111" not in parcel.receiver_sealed
    opened = service.personal.opener([parcel.id]).open(parcel.id, parcel.receiver_sealed,
                                                       reveal=True)
    assert opened["phone"] == "13700001111"
    new_eta = clock.now + timedelta(days=1)
    admin.revise_eta(tracking(1), new_eta, reason="truck", by="ops")
    assert service.get(tracking(1)).eta == new_eta
    admin.cancel(tracking(1), reason="shipper request", by="cs-5")
    assert service.get(tracking(1)).state.status == Status.CANCELLED
    with pytest.raises(ParcelNotFound):
        admin.cancel(tracking(9), reason="x", by="y")


def test_erasure_refuses_an_unknown_parcel_before_destroying_any_key(service):
    erasure = Erasure(service)
    stray = parcel_id(tracking(9))
    service.personal.keys.ensure([stray])  # a key, but no parcel
    with pytest.raises(ParcelNotFound):
        erasure.erase(tracking(9), by="dpo")
    assert service.personal.keys.keys([stray])[stray] is not None
    erased = erasure.erase(tracking(1), by="dpo", reason="PIPL request")
    assert erased.key_destroyed and last_event(service, erased.position) == "PersonalDataErased"
    again = erasure.erase(tracking(1), by="dpo")
    assert not again.key_destroyed and again.position == erased.position  # nothing new
    assert service.register([manifest(1)]).rejected[0].reason.startswith(
        "this parcel's personal data was erased")


def test_an_answer_from_a_stale_cached_copy_is_checked_against_the_store(clock):
    """Two writers on one store (here: two units of work on the fakes), one with the
    ingest cache: what it answers without writing is decided on the stored parcel."""
    service = in_memory_service(clock, cache_size=100)
    other = UnitOfWork(service)  # a second process, no cache
    service.register([manifest(1)])
    service.ingest(journey(1)[:2])  # parcel 1 is now cached
    flow = ExceptionWorkflow(service)
    first = flow.raise_exception(tracking(1), ExceptionCode.DAMAGED, by="cs").case_id
    now = clock.now
    other.command(tracking(1), lambda p: p.resolve_exception(
        first, Outcome.REDELIVERED, by="cs", recorded_at=now))
    # The cached copy still shows `damaged` open: raising it again would answer with
    # the resolved one and record nothing. Checked against the store, it raises anew.
    second = flow.raise_exception(tracking(1), ExceptionCode.DAMAGED, by="cs")
    assert second.case_id != first and service.get(tracking(1)).exceptions[second.case_id].is_open
    # A write on a stale copy conflicts in the store, and is redone on the stored parcel.
    other.command(tracking(1), lambda p: p.acknowledge_exception(
        second.case_id, by="cs", recorded_at=now))
    report = service.ingest(journey(1)[2:4])
    assert report.accepted == 2
    parcel = service.get(tracking(1))
    assert parcel.exceptions[second.case_id].assignee == "cs" and len(parcel.scan_versions) == 4


def test_a_batch_by_tracking_number_keeps_the_cache_by_id_and_answers_by_number(clock):
    # The unit of work's own dictionaries are keyed by tracking number; the cache (and
    # load_many) by parcel id: what one batch leaves in the cache, the next finds.
    service = in_memory_service(clock, cache_size=100)
    service.register([manifest(1), manifest(2)])
    first, second = journey(1), journey(2)
    service.ingest(first[:2] + second[:1])
    ids = [parcel_id(tracking(1)), parcel_id(tracking(2))]
    cached = service.load_many(ids)
    assert cached == service.load_many(ids)  # the same objects, from the cache
    assert all(cached[pid] is again for pid, again in service.load_many(ids).items())
    stored = service.load_many(ids, use_cache=False)
    assert {pid: p.version for pid, p in stored.items()} == \
        {pid: p.version for pid, p in cached.items()}
    report = service.ingest(first[2:3] + second[:2])  # one duplicate
    assert (report.accepted, report.duplicates) == (2, 1)
    assert service.load_many(ids)[ids[0]] is cached[ids[0]]  # changed in place, still cached
    # Another writer moves parcel 1: the next batch conflicts on the cached copy, is
    # redone on the stored parcel, and the cache then holds that one, not the old copy.
    UnitOfWork(service).command(tracking(1), lambda p: p.raise_exception(
        ExceptionCode.DAMAGED, recorded_at=clock.now, by="cs"))
    assert service.ingest(first[3:4]).accepted == 1
    fresh = service.load_many(ids)[ids[0]]
    assert fresh is not cached[ids[0]]
    assert fresh.version == service.get(tracking(1)).version and fresh.exceptions
    assert service.load_many(ids)[ids[0]] is fresh  # cached: the same object again
    assert service.load_many(ids)[ids[1]] is cached[ids[1]]
    answers = service.command_many({tracking(1): lambda p: p.version,
                                    tracking(9): lambda p: p.version})
    assert answers[tracking(1)] == service.get(tracking(1)).version
    assert isinstance(answers[tracking(9)], ParcelNotFound) and list(answers) == [
        tracking(1), tracking(9)]


def test_a_scan_refused_half_way_leaves_no_trace_in_the_cached_parcel(clock, monkeypatch):
    # A domain error after the parcel took an event (a bug, or a rule checked late):
    # the scans are answered as not recorded, and the cached copy must not keep the
    # half-made change, or the next batch would count the scan as a duplicate.
    from parcelflow.domain.parcel import Parcel

    service = in_memory_service(clock, cache_size=100)
    service.register([manifest(1)])
    trip = journey(1)
    service.ingest(trip[:2])  # parcel 1 is now cached
    original = Parcel.record_scans

    def half_then_refuse(self, scans, **kwargs):
        original(self, scans, **kwargs)  # the events are taken on the object ...
        raise DomainError("refused after the change was made")  # ... then refused

    monkeypatch.setattr(Parcel, "record_scans", half_then_refuse)
    refused = service.ingest(trip[2:3])
    assert refused.accepted == 0 and "could not be recorded" in refused.results[0].reason
    monkeypatch.setattr(Parcel, "record_scans", original)
    again = service.ingest(trip[2:3])
    assert (again.accepted, again.duplicates) == (1, 0)
    assert len(service.get(tracking(1)).scan_versions) == 3


def test_a_command_refused_half_way_leaves_no_trace_in_the_cached_parcel(clock):
    # command_many answers a refused command with its error; the parcel it had begun to
    # change must not stay cached with that change (the unit of work evicts it).
    service = in_memory_service(clock, cache_size=100)
    service.register([manifest(1)])
    service.ingest(journey(1)[:2])
    before = service.get(tracking(1)).version

    def raise_then_refuse(parcel):
        parcel.raise_exception(ExceptionCode.DAMAGED, recorded_at=clock.now, by="cs")
        raise DomainError("refused after the change was made")

    answers = service.command_many({tracking(1): raise_then_refuse})
    assert isinstance(answers[tracking(1)], DomainError)
    cached = service.load_many([parcel_id(tracking(1))])[parcel_id(tracking(1))]
    assert cached.version == before and not cached.exceptions
