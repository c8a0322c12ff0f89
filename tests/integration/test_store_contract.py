"""The store contract: every test here runs on the SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parcelflow.application.audit import history, verify, verify_all
from parcelflow.application.corrections import Corrections
from parcelflow.application.erasure import Erasure
from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.parcel_admin import ParcelAdmin
from parcelflow.application.results import ItemStatus
from parcelflow.application.service import ParcelService
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.vocabulary import ExceptionCode, Outcome, Status
from tests.support.builders import journey, manifest, scan, tracking
from tests.support.contracts import check_key_store, check_parcel_recorder
from tests.support.tamper import delete_event, tamper


def statuses(report) -> list[str]:
    return [str(r.status) for r in report.results]


def event_count(service: ParcelService) -> int:
    return len(service.recorder.select_notifications(start=None, limit=100_000))


def test_a_registered_parcel_is_delivered_by_its_scans(service):
    assert statuses(service.register([manifest()])) == ["accepted"]
    report = service.ingest(journey())
    assert statuses(report) == ["accepted"] * 11
    assert report.position == service.recorder.max_notification_id()
    parcel = service.get(tracking())
    assert parcel.state.status == Status.DELIVERED and parcel.open_exceptions == []


def test_each_item_gets_its_result_and_a_bad_neighbour_costs_nothing(service):
    service.register([manifest()])
    good = journey()[:3]
    batch = [good[0], {**good[1], "colour": "red"}, good[1], "not a scan", good[2], good[0]]
    report = service.ingest(batch)
    assert statuses(report) == [
        "accepted", "rejected", "accepted", "rejected", "accepted", "duplicate"]
    assert "unknown field 'colour'" in report.results[1].reason
    assert report.results[1].key == good[1]["scan_id"]
    assert len(service.get(tracking()).scan_versions) == 3


def test_replaying_a_batch_changes_nothing(service):
    service.register([manifest()])
    batch = journey()
    service.ingest(batch)
    before = event_count(service)
    report = service.ingest(batch)
    assert statuses(report) == ["duplicate"] * len(batch)
    assert report.position is None and event_count(service) == before


def test_a_scan_before_the_manifest_makes_an_unmanifested_parcel_the_manifest_completes(service):
    service.ingest(journey(2)[:3])
    parcel = service.get(tracking(2))
    assert parcel.manifest is None
    assert [str(r.code) for r in parcel.open_exceptions] == ["unmanifested"]
    report = service.register([manifest(2)])
    assert report.results[0].status == ItemStatus.ACCEPTED
    assert "already scanned" in report.results[0].reason
    parcel = service.get(tracking(2))
    assert parcel.manifest is not None and parcel.open_exceptions == []
    assert parcel.state.status == Status.AT_FACILITY


def test_registering_twice_is_a_duplicate_and_a_different_manifest_is_refused(service):
    assert statuses(service.register([manifest(), manifest()])) == ["accepted", "duplicate"]
    assert statuses(service.register([manifest()])) == ["duplicate"]
    report = service.register([manifest(postage="25.00")])
    assert statuses(report) == ["rejected"] and "different manifest" in report.results[0].reason


def test_one_save_for_a_batch_of_a_thousand_scans_over_a_thousand_parcels(service):
    service.register([manifest(n) for n in range(1, 1001)])
    before = service.recorder.max_notification_id()
    report = service.ingest([scan("pickup", "SZX-OUT-07", 1, n) for n in range(1, 1001)])
    assert report.accepted == 1000 and report.events == 1000
    assert report.position == before + 1000  # one contiguous run: one transaction
    loaded = service.load_many([parcel_id(tracking(n)) for n in range(1, 1001)], use_cache=False)
    assert {p.state.status for p in loaded.values()} == {Status.PICKED_UP}


def test_history_masks_personal_data_and_reveals_it_to_auditors(service):
    service.register([manifest()])
    service.ingest(journey()[:2])
    items = history(service, tracking())
    assert [i.event_type for i in items] == ["registered", "scan_recorded", "scan_recorded"]
    receiver = items[0].details["manifest"]["receiver"]
    assert receiver["name"] == "李*" and receiver["phone"] == "139******21"
    assert "sealed" not in str(items[0].to_json())
    revealed = history(service, tracking(), reveal=True)[0].details["manifest"]["receiver"]
    assert revealed["phone"] == "13987654321"
    assert items[1].previous_hash == items[0].event_hash
    with pytest.raises(ParcelNotFound):
        history(service, tracking(99))


def test_personal_data_is_stored_only_encrypted(service, database_url):
    service.register([manifest()])
    rows = service.recorder.select_events(parcel_id(tracking()))
    stored = b"".join(r.state for r in rows)
    for secret in ("13987654321", "李华", "世纪大道", "li.hua@example.com", "王小明"):
        assert secret.encode() not in stored


def test_state_as_of_a_past_time_is_what_was_known_then(service, clock):
    service.register([manifest()])
    first_batch = clock.now
    service.ingest(journey()[:3])
    clock.advance(hours=2)
    service.ingest(journey()[3:6])
    then = service.as_of(tracking(), first_batch)
    assert then.state.status == Status.AT_FACILITY and len(then.scan_versions) == 3
    assert service.get(tracking()).state.location == "SHA-HUB-02"
    with pytest.raises(ParcelNotFound):
        service.as_of(tracking(), first_batch - timedelta(days=30))


def test_a_tampered_event_fails_verification_naming_the_parcel_and_the_event(
        service, database_url):
    service.register([manifest(1), manifest(2)])
    service.ingest(journey(1)[:5] + journey(2)[:5])
    assert verify(service, tracking(1)).ok and verify_all(service).ok
    tamper(database_url, parcel_id(tracking(1)), 4, "SZX-HUB-01", "SZX-HUB-99")
    report = verify(service, tracking(1))
    [(number, link)] = report.broken
    assert (number, link.version, link.event_type) == (tracking(1), 4, "ScanRecorded")
    assert "altered" in link.reason
    everything = verify_all(service)
    assert [(n, link.version) for n, link in everything.broken] == [(tracking(1), 4)]
    assert everything.parcels == 2 and verify(service, tracking(2)).ok


def test_a_deleted_event_breaks_the_chain(service, database_url):
    service.register([manifest()])
    service.ingest(journey()[:4])
    delete_event(database_url, parcel_id(tracking()), 2)
    [(_, link)] = verify(service, tracking()).broken
    assert link.version == 2 and "missing" in link.reason


def test_erasure_leaves_history_verifiable_with_personal_data_gone(service):
    service.register([manifest()])
    service.ingest(journey()[:2])
    erasure = Erasure(service)
    assert erasure.erase(tracking(), by="dpo-1", reason="GDPR art. 17").key_destroyed is True
    items = history(service, tracking(), reveal=True)
    assert items[0].details["manifest"]["receiver"]["phone"] == "[erased]"
    assert items[-1].event_type == "personal_data_erased"
    assert verify(service, tracking()).ok
    assert erasure.erase(tracking(), by="dpo-1").key_destroyed is False  # nothing left
    report = service.register([manifest()])
    assert report.results[0].status == ItemStatus.REJECTED and "erased" in report.results[0].reason


def test_exception_workflow_and_corrections_through_the_service(service):
    service.register([manifest()])
    service.ingest(journey()[:5] + [scan("arrival", "HGH-HUB-03", 18)])
    [misdirected] = service.get(tracking()).open_exceptions
    workflow = ExceptionWorkflow(service)
    workflow.acknowledge(tracking(), misdirected.exception_id, by="hub-lead")
    workflow.resolve(tracking(), misdirected.exception_id, Outcome.NO_FAULT, by="hub-lead",
                     note="re-sorted")
    raised = workflow.raise_exception(tracking(), ExceptionCode.DAMAGED, by="cs-1",
                                      detail="customer photo").case_id
    parcel = service.get(tracking())
    assert [r.exception_id for r in parcel.open_exceptions] == [raised]
    misrouted = next(e.scan.scan_id for e in parcel.entries.values()
                     if e.scan and e.scan.facility == "HGH-HUB-03")
    Corrections(service).amend(tracking(), misrouted, facility="SHA-HUB-02",
                               reason="wrong config", by="auditor-1")
    assert service.get(tracking()).state.location == "SHA-HUB-02"
    ParcelAdmin(service).cancel(tracking(), reason="shipper request", by="cs-2")
    assert service.get(tracking()).state.status == Status.CANCELLED
    assert verify(service, tracking()).ok
    with pytest.raises(ParcelNotFound):
        ParcelAdmin(service).cancel(tracking(42), reason="x", by="y")


def test_a_stale_writer_retries_only_the_parcels_that_conflicted(make_service, database_url):
    a = make_service(database_url, cache_size=1000)
    b = make_service(database_url, cache_size=0)
    a.register([manifest(n) for n in (1, 2, 3)])
    a.ingest([scan("pickup", "SZX-OUT-07", 1, n) for n in (1, 2, 3)])  # all three now cached in a
    b.ingest([scan("departure", "SZX-OUT-07", 2, 1, next_facility="SZX-HUB-01")])  # a is stale on 1

    loads: list[set] = []
    real = a.recorder.select_events_for
    a.recorder.select_events_for = lambda ids: (loads.append(set(ids)), real(ids))[1]
    report = a.ingest([scan("arrival", "SZX-HUB-01", 3, n) for n in (1, 2, 3)])

    assert report.accepted == 3
    assert loads == [{parcel_id(tracking(1))}]  # only the conflicting parcel was reloaded
    for n in (1, 2, 3):
        parcel = b.get(tracking(n))
        assert parcel.state.status == Status.AT_FACILITY
        assert verify(b, tracking(n)).ok
    assert len(b.get(tracking(1)).scan_versions) == 3


def test_the_key_store_keeps_one_key_per_parcel_and_tombstones_erasures(service):
    check_key_store(service.personal.keys)


def test_the_recorder_reads_many_parcels_at_once(service):
    check_parcel_recorder(service)


def test_a_batch_is_stored_as_the_librarys_event_store_would_store_it(service, make_service,
                                                                      tmp_path):
    # The unit of work stores a batch's events itself (UnitOfWork._put: one
    # insert_events, without the Recording and Notification objects the library's
    # EventStore.put makes per event). The same events put through the library's own
    # EventStore into another store are stored as the same rows.
    service.register([manifest(n) for n in (1, 2)])
    service.ingest(journey(1)[:5] + journey(2)[:3])
    library = make_service(f"sqlite:///{tmp_path}/library.db")

    def rows(svc: ParcelService, number: str) -> list[tuple]:
        return [(str(e.originator_id), e.originator_version, e.topic, bytes(e.state))
                for e in svc.recorder.select_events(parcel_id(number))]

    for n in (1, 2):
        events = list(service.events.get(parcel_id(tracking(n))))
        assert len(events) > 1
        library.events.put(events)
        assert rows(library, tracking(n)) == rows(service, tracking(n))
