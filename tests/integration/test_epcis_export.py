"""EPCIS exports from the store, with corrections, on both backends; and over the API."""

from __future__ import annotations

from datetime import timedelta

from parcelflow.application.corrections import Corrections
from parcelflow.application.epcis_export import EpcisExport
from parcelflow.bootstrap import epcis_identifiers
from tests.support.api import is_problem
from tests.support.builders import journey, manifest, tracking
from tests.support.epcis import reference_hashes, schema_errors


def export_of(service):
    return EpcisExport(service, epcis_identifiers(service.network))


def test_a_voided_and_an_amended_scan_are_declared_as_epcis_corrects_events(service, clock):
    service.register([manifest(1)])
    scans = journey(1)[:6]
    service.ingest(scans)
    clock.advance(hours=2)
    corrections = Corrections(service)
    # Events by version: 1 registered, 2-7 the six scans.
    corrections.void(tracking(1), scans[2]["scan_id"], reason="scanned the wrong parcel",
                     by="auditor-7")
    arrival_at = scans[5]["occurred_at"]
    corrections.amend(tracking(1), scans[5]["scan_id"], facility="HGH-HUB-03",
                      reason="wrong hub", by="auditor-7")
    events = export_of(service).parcel(tracking(1))
    document = export_of(service).document(events)
    assert schema_errors(document) == []
    assert [e["eventID"] for e in events] == reference_hashes(document)

    assert len(events) == 6 + 1 + 2  # six scans, a void, an amendment and its correction
    arrival = events[2]  # version 4 (the first is the registration): arrival at SZX-HUB-01
    voided = events[6]
    assert voided["eventID"] == arrival["eventID"]  # the same event, declared erroneous
    assert voided["errorDeclaration"] == {"declarationTime": clock.now.isoformat(),
                                          "reason": "did_not_occur"}
    declared, corrective = events[7], events[8]
    assert declared["eventID"] == events[5]["eventID"]
    assert declared["errorDeclaration"]["reason"] == "incorrect_data"
    assert declared["errorDeclaration"]["correctiveEventIDs"] == [corrective["eventID"]]
    assert corrective["readPoint"]["id"].endswith("/facility/HGH-HUB-03")
    assert corrective["eventTime"] == arrival_at and "errorDeclaration" not in corrective
    assert corrective["recordTime"] == clock.now.isoformat()


def test_a_period_export_holds_what_was_recorded_in_it(service, clock):
    service.register([manifest(1), manifest(2)])
    service.ingest(journey(1)[:3])
    first_day = clock.now
    clock.advance(days=1)
    service.ingest(journey(1)[3:5] + journey(2)[:2])
    export = export_of(service)
    day_two = dict(export.recorded_between(first_day + timedelta(hours=1),
                                           first_day + timedelta(days=1, hours=1)))
    assert sorted(day_two) == [tracking(1), tracking(2)]
    assert [e["parcelflow:scanType"].rsplit("-", 1)[1] for e in day_two[tracking(1)]] == [
        "sort", "departure"]
    assert len(day_two[tracking(2)]) == 2
    assert dict(export.recorded_between(first_day - timedelta(hours=1),
                                        first_day + timedelta(hours=1)))[tracking(1)][0][
        "bizStep"] == "accepting"


def test_the_api_gives_auditors_the_epcis_document_and_no_one_else(api):
    api.service.register([manifest(1)])
    api.service.ingest(journey(1)[:4])
    answer = api.client.get(f"/v1/parcels/{tracking(1)}/epcis", headers=api.auth("auditor"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/ld+json")
    document = answer.json()
    assert schema_errors(document) == [] and len(document["epcisBody"]["eventList"]) == 4
    for secret in ("李华", "13987654321", "王小明", "世纪大道"):
        assert secret not in answer.text
    is_problem(api.client.get(f"/v1/parcels/{tracking(1)}/epcis",
                              headers=api.auth("cs_agent")), 403)
    is_problem(api.client.get(f"/v1/parcels/{tracking(1)}/epcis"), 401)
    is_problem(api.client.get(f"/v1/parcels/{tracking(9)}/epcis",
                              headers=api.auth("auditor")), 404)
