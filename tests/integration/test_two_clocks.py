"""Both clocks, on both backends: where a parcel was at T (by when things happened, late
uploads included), what had been recorded by R, the two combined, and what the customer
was shown at R."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parcelflow.application.audit import history_report
from parcelflow.application.corrections import Corrections
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.errors import ParcelNotFound
from parcelflow.projections.tracking_view import as_seen
from tests.support.api import is_problem
from tests.support.builders import T0, journey, manifest, tracking


def at(hours: float):
    return T0 + timedelta(hours=hours)


@pytest.fixture
def late_hub(service, clock):
    """Parcel 1 moves SZX outlet -> SZX hub -> SHA hub; the SZX hub's sort and departure
    (T0+2.5 h, +3 h) reach the server only at T0+30 h. Parcel 2's scans all arrive at
    T0+30 h."""
    scans = journey(1)
    clock.now = at(-1)
    service.register([manifest(1), manifest(2)])
    clock.now = at(1.1)
    service.ingest(scans[0:2])  # pickup, departure from the outlet
    clock.now = at(2.1)
    service.ingest(scans[2:3])  # arrival at SZX-HUB-01
    clock.now = at(20.1)
    service.ingest(scans[5:6])  # arrival at SHA-HUB-02
    clock.now = at(30)
    service.ingest(scans[3:5] + journey(2)[:5])  # the hub's offline upload; parcel 2's scans
    return service


def test_as_of_counts_scans_uploaded_later(late_hub):
    head, items = history_report(late_hub, tracking(1), as_of=at(4))
    assert (head["status"], head["location"]) == ("in_transit", "SZX-HUB-01")
    assert [i.details.get("scan_type") for i in items] == [
        None, "pickup", "departure", "arrival", "sort", "departure"]
    assert all(i.occurred_at <= at(4) for i in items)


def test_recorded_by_shows_what_the_system_knew_then(late_hub):
    head, items = history_report(late_hub, tracking(1), recorded_by=at(21))
    assert (head["status"], head["location"]) == ("at_facility", "SHA-HUB-02")
    assert len(items) == 5 and all(i.recorded_at <= at(21) for i in items)


def test_the_two_clocks_combine(late_hub):
    # At T0+4 h, as known at T0+6 h: the hub's departure had not been uploaded yet.
    head, items = history_report(late_hub, tracking(1), as_of=at(4), recorded_by=at(6))
    assert (head["status"], head["location"]) == ("at_facility", "SZX-HUB-01")
    assert head["as_of"] == at(4).isoformat() and head["recorded_by"] == at(6).isoformat()
    assert [i.details.get("scan_type") for i in items] == [None, "pickup", "departure",
                                                            "arrival"]


def test_a_parcel_uploaded_all_at_once_still_shows_where_it_was_yesterday(late_hub):
    head, _ = history_report(late_hub, tracking(2), as_of=at(2.2))
    assert (head["status"], head["location"]) == ("at_facility", "SZX-HUB-01")
    with pytest.raises(ParcelNotFound):  # as known then: nothing had been uploaded
        history_report(late_hub, tracking(2), recorded_by=at(-2))
    with pytest.raises(ParcelNotFound):
        history_report(late_hub, tracking(2), as_of=at(-5))  # before anything happened


def test_exceptions_open_at_a_time_follow_both_clocks(late_hub, clock):
    clock.now = at(31)
    ExceptionWorkflow(late_hub).raise_exception(tracking(1), "damaged", by="staff:emp-1")
    now, _ = history_report(late_hub, tracking(1))
    assert [e["code"] for e in now["open_exceptions"]] == ["damaged"]
    assert "damaged" in now["flags"]
    then, _ = history_report(late_hub, tracking(1), as_of=at(25))
    assert then["open_exceptions"] == [] and then["flags"] == []


def test_a_voided_scan_did_not_happen_at_t_unless_asked_as_known_before_the_void(late_hub,
                                                                                 clock):
    clock.now = at(32)
    # Versions by recording order: 1 registered, 2-3 outlet, 4 SZX hub, 5 SHA hub, 6-7 late.
    sha_hub = late_hub.get(tracking(1)).entries[5].scan.scan_id
    Corrections(late_hub).void(tracking(1), sha_hub, reason="the SHA hub scanned the wrong parcel",
                               by="auditor-1")
    head, items = history_report(late_hub, tracking(1), as_of=at(21))
    assert (head["status"], head["location"]) == ("in_transit", "SZX-HUB-01")
    voided = [i for i in items if i.event_type == "event_voided"]
    assert [v.details["target_version"] for v in voided] == [5]  # shown beside its target
    before, _ = history_report(late_hub, tracking(1), as_of=at(21), recorded_by=at(31))
    assert (before["status"], before["location"]) == ("at_facility", "SHA-HUB-02")


def test_the_customers_view_at_a_time_is_rebuilt_from_what_was_recorded_by_then(late_hub):
    seen = as_seen(late_hub, tracking(1), at(6))
    assert (seen["status"], seen["facility"]) == ("at_facility", "SZX-HUB-01")
    assert [line["type"] for line in seen["timeline"] if line["facility"]] == [
        "pickup", "departure", "arrival"]
    assert seen["eta"] is not None and seen["receiver"]["phone"] == "139******21"
    later = as_seen(late_hub, tracking(1), at(30))
    assert [(line["type"], line["late"]) for line in later["timeline"] if line["facility"]] == [
        ("pickup", False), ("departure", False), ("arrival", False), ("sort", True),
        ("departure", True), ("arrival", False)]
    assert as_seen(late_hub, tracking(1), at(-2)) is None


def test_the_api_answers_on_both_clocks(api):
    svc, clock = api.service, api.service.clock
    scans = journey(1)
    clock.now = at(-1)
    svc.register([manifest(1)])
    clock.now = at(2.1)
    svc.ingest(scans[0:3])
    clock.now = at(30)
    svc.ingest(scans[3:5])  # late
    auditor = api.auth("auditor")
    url = f"/v1/parcels/{tracking(1)}"
    body = api.client.get(f"{url}/history", params={"as_of": at(4).isoformat()},
                          headers=auditor).json()
    assert (body["status"], body["location"]) == ("in_transit", "SZX-HUB-01")
    body = api.client.get(f"{url}/history", params={"as_of": at(4).isoformat(),
                                                    "recorded_by": at(6).isoformat()},
                          headers=auditor).json()
    assert body["status"] == "at_facility" and body["recorded_by"] == at(6).isoformat()
    seen = api.client.get(f"{url}/tracking", params={"recorded_by": at(6).isoformat()},
                          headers=auditor)
    assert seen.status_code == 200, seen.text
    assert seen.json()["status"] == "at_facility" and seen.json()["detail"] == "full"
    assert "13987654321" not in seen.text
    is_problem(api.client.get(f"{url}/tracking", params={"recorded_by": at(-3).isoformat()},
                              headers=auditor), 404)
    is_problem(api.client.get(f"{url}/tracking", params={"recorded_by": at(6).isoformat()},
                              headers=api.auth("cs_agent")), 403)
    is_problem(api.client.get(f"{url}/tracking", headers=auditor), 422)
