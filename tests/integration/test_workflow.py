"""An exception worked by customer service, as the queue shows it at every step."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from parcelflow.application.detectors import Detectors
from parcelflow.application.complaints import Complaints
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.domain.errors import DomainError
from parcelflow.domain.vocabulary import (
    Channel,
    ComplaintCategory,
    ExceptionCode,
    ExceptionStatus,
    Outcome,
)
from parcelflow.projections.watchlist import Watchlist
from tests.support.builders import T0, journey, manifest, tracking

UTC = timezone.utc
CST = timezone(timedelta(hours=8))


def utc(moment):
    return moment.astimezone(UTC).isoformat()


def at(*args):
    return datetime(*args, tzinfo=CST)


@pytest.fixture
def queue_of():
    """The exception queue's runner on a service the test built itself."""
    from parcelflow.projections.registry import runners as build

    made = []

    def runner_for(service):
        runner = next(r for r in build(service) if r.name == "exceptions")
        made.append(runner)
        runner.run()
        return runner
    yield runner_for
    for runner in made:
        runner.close()


@pytest.fixture
def queue(runners):
    def row(exc_id):
        runners["exceptions"].run()
        return runners["exceptions"].projection.view.get(exc_id)
    return row


def test_acknowledge_hand_over_contact_resolve_with_team_assignee_and_due_times_at_each_step(
        service, clock, queue, capsys):
    desk = ExceptionWorkflow(service)
    service.register([manifest(1)])
    service.ingest(journey(1)[:6])
    raised = clock.now
    exc = desk.raise_exception(tracking(1), ExceptionCode.DAMAGED, by="hub-lead-3",
                               detail="carton crushed").case_id
    row = queue(exc)
    assert (row["status"], row["team"], row["assignee"]) == ("open", "hub", None)
    assert row["first_response_due"] == utc(raised + timedelta(hours=1))
    assert row["resolution_due"] == utc(raised + timedelta(hours=24))
    assert row["next_due"] == row["first_response_due"]

    clock.advance(minutes=20)
    desk.acknowledge(tracking(1), "damaged", by="cs-anna")  # named by its code
    row = queue(exc)
    assert (row["status"], row["assignee"], row["team"]) == ("acknowledged", "cs-anna", "hub")
    assert row["next_due"] == row["resolution_due"] == utc(raised + timedelta(hours=24))
    with pytest.raises(DomainError, match="assigned to cs-anna"):
        desk.resolve(tracking(1), exc, Outcome.NO_FAULT, by="cs-bob")  # first contact owns it

    clock.advance(hours=2)
    desk.hand_over(tracking(1), exc[:8], by="cs-anna", to_agent="claims-li",
                   to_team="claims_team", note="customer wants compensation")
    row = queue(exc)
    assert (row["assignee"], row["team"], row["handovers"]) == ("claims-li", "claims_team", 1)
    assert row["resolution_due"] == utc(raised + timedelta(hours=24))  # the clock runs on
    with pytest.raises(DomainError, match="assigned to claims-li"):
        desk.hand_over(tracking(1), exc, by="cs-anna", to_agent="cs-anna")

    clock.advance(minutes=30)
    desk.contact(tracking(1), exc, Channel.PHONE, by="claims-li",
                 summary="Called 13987654321, customer will send photos")
    row = queue(exc)
    assert (row["contacts"], row["last_contact_channel"]) == (1, "phone")
    assert row["last_contact_at"] == utc(clock.now)
    assert "13987654321" not in str(row)
    shown = desk.show(tracking(1), exc)
    assert shown["contacts"][0]["summary"] == "[sealed]"
    assert desk.show(tracking(1), exc, reveal=True)["contacts"][0]["summary"].startswith("Called")

    clock.advance(hours=3)
    desk.resolve(tracking(1), exc, Outcome.COMPENSATED, by="claims-li", note="paid in full")
    row = queue(exc)
    assert (row["status"], row["outcome"], row["resolved_by"]) == (
        "resolved", "compensated", "claims-li")
    assert (row["first_response_met"], row["resolution_met"], row["next_due"]) == (1, 1, None)
    assert "13987654321" not in capsys.readouterr().out  # nor in the logs

    # Reopened: back with its assignee, on a fresh resolution clock.
    clock.advance(hours=1)
    desk.reopen(tracking(1), exc, by="cs-anna", reason="customer says the payment never came")
    row = queue(exc)
    assert (row["status"], row["assignee"], row["reopen_count"]) == ("acknowledged",
                                                                     "claims-li", 1)
    assert row["resolution_due"] == utc(clock.now + timedelta(hours=24))


def test_a_breached_sla_is_recorded_once_and_escalates(service, clock, queue):
    desk = ExceptionWorkflow(service)
    watchlist = Watchlist(service)
    detectors = Detectors(service, watchlist)
    far = (T0 + timedelta(days=20)).isoformat()  # no delay muddles the clocks here
    service.register([manifest(1, customer_tier="vip", promised_by=far),
                      manifest(2, promised_by=far)])
    recent = clock.now - timedelta(hours=21)  # last scanned an hour ago: nothing stalls
    service.ingest(journey(1, t0=recent)[:6] + journey(2, t0=recent)[:6])
    raised = clock.now
    vip = desk.raise_exception(tracking(1), ExceptionCode.ADDRESS_ISSUE, by="cs-1").case_id
    std = desk.raise_exception(tracking(2), ExceptionCode.ADDRESS_ISSUE, by="cs-1").case_id

    clock.advance(minutes=31)  # the VIP's first response was due after 30 minutes
    report = detectors.run_pass()
    assert report.breaches == {"first_response": 1} and report.raised == {}
    row = queue(vip)
    assert row["first_response_breached_at"] == utc(clock.now)
    assert (row["escalation_level"], row["escalated_to"]) == (1, "cs_supervisors")
    assert queue(std)["escalation_level"] == 0
    assert [r["exception_id"] for r in
            watchlist.runners[1].projection.view.open(breached=True)] == [vip]
    clock.advance(minutes=10)
    assert detectors.run_pass().breaches == {}  # recorded once

    clock.now = raised + timedelta(hours=1, minutes=1)  # the standard customer's turn
    assert detectors.run_pass().breaches == {"first_response": 1}
    desk.acknowledge(tracking(2), std, by="cs-2")  # late, but answered

    clock.now = raised + timedelta(hours=12, minutes=1)  # VIP resolution clock: 12 h
    assert detectors.run_pass().breaches == {"resolution": 1}
    row = queue(vip)
    assert row["escalation_level"] == 2 and row["resolution_breached_at"] == utc(clock.now)
    assert row["assignee"] is None  # escalation brings in supervisors; it assigns nobody
    # Escalated work comes first among equals.
    open_rows = watchlist.runners[1].projection.view.open(escalated=True)
    assert [r["exception_id"] for r in open_rows] == [vip, std]
    # A supervisor takes it over explicitly, and may then close it.
    desk.escalate(tracking(1), vip, by="sup-wang", reason="VIP account manager asked",
                  to="sup-wang", assignee="sup-wang", by_supervisor=True)
    desk.resolve(tracking(1), vip, Outcome.REDELIVERED, by="sup-wang")
    row = queue(vip)
    assert (row["status"], row["escalation_level"], row["resolution_met"]) == ("resolved", 3, 0)
    watchlist.close()


def test_a_complaint_links_to_its_exceptions_runs_on_the_complaint_clock_and_closes(
        service, clock, queue, runners, caplog):
    caplog.set_level(logging.DEBUG)
    desk, complaints = ExceptionWorkflow(service), Complaints(service)
    service.register([manifest(1)])
    service.ingest(journey(1)[:6])
    delayed = desk.raise_exception(tracking(1), ExceptionCode.DELAYED, by="ops-1").case_id
    words = "我的快递晚了三天，电话13987654321一直没人接"
    filed_at = clock.now
    cid = complaints.file(tracking(1), ComplaintCategory.DELAY, Channel.REGULATOR, words=words,
                          by="cs-9", reference="12305-2026-0001").case_id
    again = complaints.file(tracking(1), ComplaintCategory.DELAY, Channel.REGULATOR,
                            words=words, by="cs-9", reference="12305-2026-0001").case_id
    assert again == cid  # the regulator's forward, delivered twice, is one complaint

    parcel = service.get(tracking(1))
    complaint = parcel.complaints[cid]
    assert complaint.links == (delayed,)
    assert queue(delayed)["complaints"] == [cid]
    own = queue(complaint.exception_id)
    assert own["code"] == "complaint" and own["complaints"] == [cid]
    assert own["resolution_due"] == utc(filed_at + timedelta(days=7))
    runners["cases"].run()
    cases = runners["cases"].projection.view
    [row] = cases.complaints(status="open")
    assert row["due"] == utc(filed_at + timedelta(days=7)) and row["links"] == [delayed]
    assert words not in str(row) and "13987654321" not in caplog.text
    assert complaints.show(tracking(1), cid)["words"] == "[sealed]"
    assert complaints.show(tracking(1), cid[:6], reveal=True)["words"] == words

    with pytest.raises(DomainError, match="confirmation or a recorded reason"):
        complaints.close(tracking(1), cid, Outcome.REDELIVERED, by="cs-9")
    clock.advance(days=8)
    assert [r["complaint_id"] for r in cases.complaints(overdue_at=clock.now)] == [cid]
    complaints.close(tracking(1), cid, Outcome.REDELIVERED, by="cs-9", customer_confirmed=True)
    runners["cases"].run()
    row = cases.complaint(cid)
    assert (row["status"], row["outcome"], row["customer_confirmed"]) == (
        "closed", "redelivered", 1)
    assert queue(complaint.exception_id)["status"] == "resolved"
    assert queue(delayed)["status"] == "open"  # the delay itself is worked on its own


def test_each_step_answers_with_the_log_position_of_its_own_event(service):
    """What a reader waits for before the queue shows the step; a request that changes
    nothing answers with a position at or past everything it rests on."""
    desk = ExceptionWorkflow(service)
    service.register([manifest(1), manifest(2)])
    raised = desk.raise_exception(tracking(1), ExceptionCode.DAMAGED, by="cs-1")
    service.ingest(journey(2)[:3])  # the log moves on after it
    taken = desk.acknowledge(tracking(1), raised.case_id, by="cs-1")
    [note] = service.recorder.select_notifications(start=taken.position, limit=1)
    assert note.originator_id == service.get(tracking(1)).id
    assert note.topic.endswith("Parcel.ExceptionAcknowledged")
    [note] = service.recorder.select_notifications(start=raised.position, limit=1)
    assert note.topic.endswith("Parcel.ExceptionRaised") and raised.position < taken.position
    again = desk.raise_exception(tracking(1), ExceptionCode.DAMAGED, by="cs-2")  # still open
    assert again.case_id == raised.case_id
    assert again.position == service.recorder.max_notification_id() >= taken.position


def test_business_hours_clocks_stand_still_while_waiting_on_the_customer(
        monkeypatch, make_service, database_url, clock, queue_of):
    # Customer-facing clocks on business time: the default calendar's Monday-Friday
    # 09:00-18:00 in Shanghai (China's holidays do not fall in these days).
    monkeypatch.setenv("PARCELFLOW_POLICY", '{"basis": {"first_response": "business", '
                       '"resolution": "business"}}')
    service = make_service(database_url)
    runner = queue_of(service)

    def queue(exc_id):
        runner.run()
        return runner.projection.view.get(exc_id)
    desk = ExceptionWorkflow(service)
    watchlist = Watchlist(service)
    detectors = Detectors(service, watchlist)
    far = (T0 + timedelta(days=30)).isoformat()
    service.register([manifest(1, promised_by=far)])
    clock.now = at(2026, 11, 25, 8)  # Wednesday, before the desk opens
    service.ingest(journey(1, t0=clock.now - timedelta(hours=20))[:6])
    exc = desk.raise_exception(tracking(1), ExceptionCode.ADDRESS_ISSUE, by="cs-1").case_id
    row = queue(exc)
    # 1 working hour: 09:00-10:00; 24: Wed 9 + Thu 9 + Fri 6 -> Friday 15:00.
    assert (row["first_response_due"], row["resolution_due"]) == (
        utc(at(2026, 11, 25, 10)), utc(at(2026, 11, 27, 15)))
    assert (row["clock_basis"], row["calendar"]) == ("business", "default")

    clock.now = at(2026, 11, 25, 9, 30)
    desk.acknowledge(tracking(1), exc, by="cs-anna")
    clock.now = at(2026, 11, 26, 10)  # 10 h counted, 14 left
    desk.await_answer(tracking(1), exc, ExceptionStatus.AWAITING_CUSTOMER, by="cs-anna",
                      reason="asked for the new address")
    row = queue(exc)
    assert (row["status"], row["waiting_since"]) == ("awaiting_customer", utc(clock.now))
    assert (row["resolution_due"], row["next_due"]) == (None, None)
    clock.now = at(2026, 11, 30, 8)  # long after Friday 15:00: not overdue, not breached
    assert detectors.run_pass().breaches == {}
    assert runner.projection.view.open(overdue_at=clock.now) == []

    clock.now = at(2026, 11, 30, 9)  # Monday: the customer answers; Mon 9 + Tue 5
    desk.resume(tracking(1), exc, by="cs-bob")
    row = queue(exc)
    assert (row["status"], row["assignee"], row["waiting_since"]) == (
        "acknowledged", "cs-anna", None)
    assert row["resolution_due"] == row["next_due"] == utc(at(2026, 12, 1, 14))
    shown = desk.show(tracking(1), exc)
    assert shown["waits"][0]["until"] == at(2026, 11, 30, 9).isoformat()

    clock.now = at(2026, 12, 1, 13, 59)
    assert detectors.run_pass().breaches == {}
    clock.now = at(2026, 12, 1, 14, 1)
    assert detectors.run_pass().breaches == {"resolution": 1}
    assert queue(exc)["resolution_breached_at"] == utc(clock.now)
    clock.advance(hours=3)
    assert detectors.run_pass().breaches == {}  # once per due time
    watchlist.close()
