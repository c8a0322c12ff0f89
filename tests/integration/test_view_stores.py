"""The read-model store contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from parcelflow.projections.registry import open_view

UTC = timezone.utc


def tracking_row(n: int, **changes):
    row = {
        "tracking_no": f"PF20261122{n:07d}", "parcel_id": f"id-{n}", "version": 3,
        "status": "in_transit", "flags": '["delayed"]', "facility": "SZX-HUB-01",
        "city": "Shenzhen", "last_event": "departure", "last_event_at": "2026-11-22T01:00:00+00:00",
        "last_scan_at": "2026-11-22T01:00:00+00:00", "promised_by": None, "eta": None,
        "next_activity": "arrival", "next_facility": "SHA-HUB-02", "open_exceptions": 0,
        "delivered_at": None, "signed_by": None, "service_level": "standard",
        "customer_tier": "standard", "origin": "SZX", "destination": "SHA", "manifested": 1,
        "receiver": '{"name": "李*"}', "sender": None, "timeline": "[]",
        "data_problems": "[]", "eta_original": None,
        "eta_current": '{"earliest": "2026-11-23T01:00:00+00:00", "likely": '
                       '"2026-11-23T05:00:00+00:00", "latest": "2026-11-23T09:00:00+00:00", '
                       '"confidence": 0.41, "basis": "lane"}',
    }
    row.update(changes)
    return row


def test_tracking_rows_are_upserted_and_read_back_with_json_fields(service):
    view = open_view(service, "tracking")
    view.write_rows([tracking_row(1), tracking_row(2)], Tracking("parcelflow", 5))
    view.write_rows([tracking_row(1, status="delivered", flags="[]")], Tracking("parcelflow", 9))
    row = view.get("PF202611220000001")
    assert row["status"] == "delivered" and row["flags"] == [] and row["manifested"] is True
    assert row["receiver"] == {"name": "李*"} and row["timeline"] == []
    assert row["eta_current"]["likely"] == "2026-11-23T05:00:00+00:00"
    assert row["eta_original"] is None
    assert view.count() == 2 and view.max_tracking_id("parcelflow") == 9
    assert view.get("PF202611229999999") is None


def test_a_rebuilds_new_rows_are_inserted_and_a_row_already_there_is_replaced(service):
    view = open_view(service, "tracking")
    view.insert_rows([tracking_row(1), tracking_row(2)])
    assert view.count() == 2 and view.get("PF202611220000002")["status"] == "in_transit"
    # Another runner wrote parcel 2 meanwhile: the chunk is upserted instead, whole.
    view.insert_rows([tracking_row(2, status="delivered"), tracking_row(3)])
    assert view.count() == 3
    assert view.get("PF202611220000002")["status"] == "delivered"
    assert view.get("PF202611220000003")["status"] == "in_transit"
    assert not view.max_tracking_id("parcelflow")  # a rebuild's chunks carry no position


def test_rows_and_position_commit_together_or_not_at_all(service):
    view = open_view(service, "tracking")
    view.write_rows([tracking_row(1)], Tracking("parcelflow", 10))
    with pytest.raises(IntegrityError):  # a position that is not ahead: someone else got there
        view.write_rows([tracking_row(2)], Tracking("parcelflow", 10))
    assert view.get("PF202611220000002") is None
    assert view.max_tracking_id("parcelflow") == 10


def test_each_view_keeps_its_own_position_and_a_drop_forgets_rows_and_position(service):
    tracking, queue = open_view(service, "tracking"), open_view(service, "exceptions")
    tracking.write_rows([tracking_row(1)], Tracking("parcelflow", 7))
    assert queue.max_tracking_id("parcelflow") is None
    tracking.drop()
    assert tracking.count() == 0 and tracking.max_tracking_id("parcelflow") is None
    tracking.write_rows([tracking_row(1)], Tracking("parcelflow", 1))  # can start over


def exception_row(eid: str, *, priority: int, due: datetime, status: str = "open", **more):
    row = {
        "exception_id": eid, "tracking_no": more.pop("tracking_no", "PF202611220000001"),
        "parcel_id": "p", "code": "damaged", "severity": "high", "team": "hub",
        "customer_facing": 1, "customer_tier": "standard", "priority": priority,
        "status": status, "auto": 1, "detail": "", "facility": "SZX-HUB-01",
        "occurred_at": "2026-11-22T00:00:00+00:00", "raised_at": "2026-11-22T00:00:00+00:00",
        "raised_by": "system", "first_response_due": None,
        "resolution_due": due.isoformat(), "next_due": due.isoformat(),
        "acknowledged_at": None, "acknowledged_by": None, "assignee": None,
        "resolved_at": None, "resolved_by": None, "outcome": None, "note": None,
        "first_response_met": None, "resolution_met": None, "occurrence": "raised@2",
        "handovers": 0, "contacts": 0, "last_contact_at": None, "last_contact_channel": None,
        "escalation_level": 0, "escalated_to": None, "escalated_at": None,
        "first_response_breached_at": None, "resolution_breached_at": None,
        "reopened_at": None, "reopen_count": 0, "complaints": "[]", "claims": "[]",
        "condition_ended": None, "condition_ended_at": None,
        "clock_basis": "calendar", "calendar": "default", "waiting_since": None,
    }
    row.update(more)
    return row


def test_the_queue_is_read_in_priority_then_due_order_and_filters_overdue(service):
    queue = open_view(service, "exceptions")
    t = datetime(2026, 11, 22, tzinfo=UTC)
    queue.write_rows([
        exception_row("a", priority=6, due=t + timedelta(hours=5)),
        exception_row("b", priority=7, due=t + timedelta(hours=9)),  # VIP at high severity
        exception_row("c", priority=6, due=t + timedelta(hours=1)),
        exception_row("d", priority=8, due=t + timedelta(hours=2), status="resolved"),
        exception_row("e", priority=2, due=t + timedelta(hours=1), code="recipient_absent"),
    ], Tracking("parcelflow", 1))
    assert [r["exception_id"] for r in queue.open()] == ["b", "c", "a", "e"]
    overdue = queue.open(overdue_at=t + timedelta(hours=3))
    assert [r["exception_id"] for r in overdue] == ["c", "e"]
    assert [r["exception_id"] for r in queue.open(code="recipient_absent")] == ["e"]
    assert len(queue.for_parcel("PF202611220000001")) == 5


def test_statistics_facts_are_replaced_per_parcel_and_summed_per_day(service):
    stats = open_view(service, "stats")

    def facts(pid, *, complete, on_time):
        return {
            "stats_visits": [
                {"parcel_id": pid, "day": "2026-11-22", "facility": "SZX-HUB-01", "hub": 1,
                 "scans": 3, "complete": complete, "unknown": 0},
                {"parcel_id": pid, "day": "2026-11-22", "facility": "SHA-STA-13", "hub": 0,
                 "scans": 2, "complete": None, "unknown": 0},
                {"parcel_id": pid, "day": "2026-11-22", "facility": "XXX-HUB-99", "hub": 0,
                 "scans": 1, "complete": None, "unknown": 1}],
            "stats_deliveries": [{"parcel_id": pid, "day": "2026-11-22",
                                  "facility": "SHA-STA-13", "on_time": on_time}],
            "stats_exceptions": [{"exception_id": f"x-{pid}", "parcel_id": pid,
                                  "day": "2026-11-22", "facility": "SZX-HUB-01",
                                  "code": "damaged", "first_response_met": 1,
                                  "resolution_met": None}],
        }

    def merged(*parts):
        return {t: [r for p in parts for r in p[t]] for t in parts[0]}

    stats.write_facts(["p1", "p2"], merged(facts("p1", complete=0, on_time=0),
                                           facts("p2", complete=1, on_time=1)),
                      Tracking("parcelflow", 1))
    stats.write_facts(["p1"], facts("p1", complete=1, on_time=1), Tracking("parcelflow", 2))
    report = stats.report("2026-11-22")
    network = report["network"]
    assert (network["scans"], network["parcels"], network["deliveries"]) == (12, 2, 2)
    assert network["unknown_facility_scans"] == 2  # kept, and counted as a data problem
    assert report["facilities"]["XXX-HUB-99"]["unknown_facility_scans"] == 2
    assert report["facilities"]["SZX-HUB-01"]["unknown_facility_scans"] == 0
    assert network["on_time_rate"] == 1.0 and network["scan_compliance"] == 1.0
    assert network["exceptions"] == {"damaged": 2} and network["first_response_sla"] == 1.0
    assert network["resolution_sla"] is None
    assert report["facilities"]["SZX-HUB-01"]["hub_visits"] == 2
    assert stats.report("2026-11-21")["network"]["scans"] == 0


def test_the_queue_puts_escalated_work_first_among_equals_and_filters_breaches(service):
    queue = open_view(service, "exceptions")
    t = datetime(2026, 11, 22, tzinfo=UTC)
    queue.write_rows([
        exception_row("a", priority=6, due=t + timedelta(hours=1), assignee="anna"),
        exception_row("b", priority=6, due=t + timedelta(hours=5), escalation_level=1,
                      escalated_to="cs_supervisors",
                      first_response_breached_at=t.isoformat()),
        exception_row("c", priority=8, due=t + timedelta(hours=9), complaints='["k1"]'),
    ], Tracking("parcelflow", 1))
    assert [r["exception_id"] for r in queue.open()] == ["c", "b", "a"]
    assert [r["exception_id"] for r in queue.open(breached=True)] == ["b"]
    assert [r["exception_id"] for r in queue.open(escalated=True)] == ["b"]
    assert [r["exception_id"] for r in queue.open(assignee="anna")] == ["a"]
    assert queue.get("c")["complaints"] == ["k1"] and queue.get("zz") is None


def test_a_queue_written_by_an_older_version_is_dropped_and_rebuilt(service):
    queue = open_view(service, "exceptions")
    queue.write_rows([exception_row("a", priority=6, due=datetime(2026, 11, 22, tzinfo=UTC))],
                     Tracking("parcelflow", 4))
    with queue.datastore.transaction(commit=True) as c:
        c.execute("ALTER TABLE exception_queue DROP COLUMN claims")
    reopened = open_view(service, "exceptions")
    assert reopened.all() == [] and reopened.max_tracking_id("parcelflow") is None
    assert "claims" in reopened.columns_of("exception_queue")


def test_a_queue_that_called_its_team_owner_and_statistics_without_unknown_facilities_are_rebuilt(
        service):
    """Issue 16 renamed the queue's `owner` to `team` and counted unknown facilities: views
    written before are rebuilt from the log, never read with a column missing."""
    queue = open_view(service, "exceptions")
    queue.write_rows([exception_row("a", priority=6, due=datetime(2026, 11, 22, tzinfo=UTC))],
                     Tracking("parcelflow", 4))
    stats = open_view(service, "stats")
    stats.write_facts(["p"], {"stats_visits": [
        {"parcel_id": "p", "day": "2026-11-22", "facility": "SZX-HUB-01", "hub": 1, "scans": 3,
         "complete": 1, "unknown": 0}], "stats_deliveries": [], "stats_exceptions": []},
        Tracking("parcelflow", 4))
    with queue.datastore.transaction(commit=True) as c:
        c.execute("ALTER TABLE exception_queue RENAME COLUMN team TO owner")
        c.execute("ALTER TABLE stats_visits DROP COLUMN unknown")
    for name, table, column in (("exceptions", "exception_queue", "team"),
                                ("stats", "stats_visits", "unknown")):
        reopened = open_view(service, name)
        assert reopened.max_tracking_id("parcelflow") is None, name
        assert column in reopened.columns_of(table), name
    assert open_view(service, "exceptions").all() == []
    assert open_view(service, "stats").report("2026-11-22")["network"]["scans"] == 0


def test_a_queue_without_issue_14s_clock_columns_and_follow_ups_with_an_owner_are_rebuilt(
        service):
    """Issue 14 added the clock's basis, calendar and waiting to the queue, and its
    follow-ups named the person `owner` before the merge with issue 16 made it `assignee`:
    views written before are rebuilt from the log, never read with a column missing."""
    queue = open_view(service, "exceptions")
    queue.write_rows([exception_row("a", priority=6, due=datetime(2026, 11, 22, tzinfo=UTC))],
                     Tracking("parcelflow", 4))
    cases = open_view(service, "cases")
    cases.write_rows([], [], Tracking("parcelflow", 4))
    with queue.datastore.transaction(commit=True) as c:
        c.execute("ALTER TABLE exception_queue DROP COLUMN waiting_since")
        c.execute("ALTER TABLE follow_ups RENAME COLUMN assignee TO owner")
    for name, table, column in (("exceptions", "exception_queue", "waiting_since"),
                                ("cases", "follow_ups", "assignee")):
        reopened = open_view(service, name)
        assert reopened.max_tracking_id("parcelflow") is None, name
        assert column in reopened.columns_of(table), name
    assert open_view(service, "exceptions").all() == []


def test_cases_rows_are_upserted_and_the_claims_report_sums_decimals(service):
    cases = open_view(service, "cases")
    t = datetime(2026, 11, 22, tzinfo=UTC)

    def claim(cid, cause, status, claimed, paid=None, day=0, paid_day=None):
        return {"claim_id": cid, "tracking_no": "PF1", "parcel_id": "p", "exception_id": "e",
                "cause": cause, "status": status, "claimed": claimed, "insured": 0,
                "declared_value": "100.00", "postage": "0.10", "payable": None, "cap": None,
                "basis": None, "explanation": None, "approved": paid, "paid": paid,
                "evidence": '["x"]', "reference": None,
                "filed_at": (t + timedelta(days=day)).isoformat(), "filed_by": "cs",
                "assessed_at": None, "decided_at": None, "decided_by": None, "rejection": None,
                "paid_at": None if paid_day is None else (t + timedelta(days=paid_day)).isoformat(),
                "payment_ref": None}

    cases.write_rows([], [claim("1", "lost", "paid", "0.10", "0.10", paid_day=1),
                          claim("2", "lost", "paid", "0.20", "0.20", paid_day=9),
                          claim("3", "damaged", "filed", "0.30"),
                          claim("4", "damaged", "filed", "5.00", day=40)],
                     Tracking("parcelflow", 1))
    report = cases.report(t, t + timedelta(days=7))
    assert report["claims"] == 3 and report["amounts"]["claimed"] == "0.60"  # not 0.6000000001
    assert report["amounts"]["paid"] == "0.30" and report["by_status"] == {"filed": 1, "paid": 2}
    assert report["by_cause"]["lost"] == {"claims": 2, "claimed": "0.30", "paid": "0.30"}
    assert report["paid_in_period"] == {"payments": 1, "amount": "0.10"}
    assert cases.claim("3")["evidence"] == ["x"] and len(cases.claims(status="filed")) == 2
