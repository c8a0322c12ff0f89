"""Follow-ups end to end, on each backend: a resolution makes one due in the follow-up
list, the agent's calls are recorded, and an unsatisfied customer reopens the case."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parcelflow.application.complaints import Complaints
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.followups import FollowUps
from parcelflow.domain.errors import DomainError
from parcelflow.domain.followups import FollowUpOutcome
from parcelflow.domain.vocabulary import Channel, ComplaintCategory, ExceptionCode, Outcome
from tests.support.builders import journey, manifest, tracking

CST = timezone(timedelta(hours=8))


def at(*args):
    return datetime(*args, tzinfo=CST)


def utc(moment):
    return moment.astimezone(timezone.utc).isoformat()


@pytest.fixture
def follow_up_list(runners):
    def rows(**kwargs):
        runners["cases"].run()
        return runners["cases"].projection.view.follow_ups(**kwargs)
    return rows


def test_resolution_makes_a_follow_up_due_and_not_satisfied_reopens_it_to_its_assignee(
        service, clock, runners, follow_up_list):
    desk, calls = ExceptionWorkflow(service), FollowUps(service)
    service.register([manifest(1)])
    service.ingest(journey(1)[:6])
    clock.now = at(2026, 11, 27, 15)  # Friday afternoon
    exc = desk.raise_exception(tracking(1), ExceptionCode.ADDRESS_ISSUE, by="cs-1").case_id
    desk.acknowledge(tracking(1), exc, by="cs-anna")
    clock.now = at(2026, 11, 27, 17)
    desk.resolve(tracking(1), exc, Outcome.REDELIVERED, by="cs-anna")

    [row] = follow_up_list()
    # 24 business hours from Friday 17:00 in the default calendar: Wednesday 14:00.
    assert (row["exception_id"], row["assignee"], row["status"], row["due"]) == (
        exc, "cs-anna", "due", utc(at(2026, 12, 2, 14)))
    assert (row["clock_basis"], row["calendar"], row["code"]) == (
        "business", "default", "address_issue")
    assert follow_up_list(due_at=at(2026, 12, 2, 13)) == []  # not yet due
    assert [r["follow_up_id"] for r in follow_up_list(due_at=at(2026, 12, 2, 14))] == [
        row["follow_up_id"]]

    clock.now = at(2026, 11, 30, 10)
    calls.record(tracking(1), row["follow_up_id"][:8], FollowUpOutcome.NOT_REACHED,
                 by="cs-bob", note="no answer on 13987654321")
    [row] = follow_up_list()
    assert (row["status"], row["attempts"], row["last_step_by"]) == ("due", 1, "cs-bob")
    assert "13987654321" not in str(row)

    clock.now = at(2026, 11, 30, 15)
    calls.record(tracking(1), row["follow_up_id"], FollowUpOutcome.NOT_SATISFIED, by="cs-bob",
                 note="parcel still not here")
    assert follow_up_list() == []
    [done] = follow_up_list(every=True)
    assert (done["status"], done["outcome"], done["closed_at"]) == (
        "done", "not_satisfied", utc(clock.now))
    runners["exceptions"].run()
    reopened = runners["exceptions"].projection.view.get(exc)
    assert (reopened["status"], reopened["assignee"], reopened["reopen_count"]) == (
        "acknowledged", "cs-anna", 1)
    shown = calls.show(tracking(1), done["follow_up_id"])
    assert [(s["by"], s["outcome"], s["at"]) for s in shown["steps"]] == [
        ("cs-bob", "not_reached", at(2026, 11, 30, 10).isoformat()),
        ("cs-bob", "not_satisfied", at(2026, 11, 30, 15).isoformat())]
    assert shown["steps"][0]["note"] == "[sealed]"
    with pytest.raises(DomainError, match="already done"):
        calls.record(tracking(1), done["follow_up_id"], FollowUpOutcome.SATISFIED, by="cs-bob")


def test_a_closed_complaint_is_followed_up_and_reopened_when_the_customer_is_not_satisfied(
        service, clock, runners, follow_up_list):
    complaints, calls = Complaints(service), FollowUps(service)
    service.register([manifest(2)])
    service.ingest(journey(2)[:6])
    cid = complaints.file(tracking(2), ComplaintCategory.DELAY, Channel.PHONE,
                          words="where is it", by="cs-1").case_id
    complaints.close(tracking(2), cid, Outcome.REDELIVERED, by="cs-1", customer_confirmed=True)
    [row] = follow_up_list()
    assert (row["complaint_id"], row["code"]) == (cid, "complaint")
    calls.record(tracking(2), row["follow_up_id"], FollowUpOutcome.NOT_SATISFIED, by="cs-2")
    runners["cases"].run()
    assert runners["cases"].projection.view.complaint(cid)["status"] == "open"
