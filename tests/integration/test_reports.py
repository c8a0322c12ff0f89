"""Service KPIs from a day worked by hand, every figure counted on paper beforehand."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from parcelflow.application.complaints import Complaints
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.followups import FollowUps
from parcelflow.application.reports import Period, Reports, as_rows
from parcelflow.domain.followups import FollowUpOutcome
from parcelflow.domain.satisfaction import DELIVERY, resolution
from parcelflow.domain.vocabulary import Channel, ComplaintCategory, ExceptionCode, Outcome
from tests.support.builders import journey, manifest, tracking

CST = timezone(timedelta(hours=8))
WEDNESDAY = date(2026, 11, 25)


def at(hour, minute=0):
    return datetime(2026, 11, 25, hour, minute, tzinfo=CST)


def rate(service, n, occasion, stars, now):
    service.command(tracking(n), lambda p: p.rate(occasion, stars, comment_sealed=None,
                                                  recorded_at=now, low_at_most=2))


def test_a_worked_day_adds_up_to_the_kpis_per_centre_team_and_agent(service, clock, runners):
    desk, complaints, calls = ExceptionWorkflow(service), Complaints(service), FollowUps(service)
    service.register([manifest(n) for n in (1, 2, 3)])
    t0 = datetime(2026, 11, 24, 8, tzinfo=CST)  # delivered Wednesday 10:00
    clock.now = at(11)
    assert service.ingest(journey(1, t0=t0) + journey(2, t0=t0) + journey(3, t0=t0)[:4]
                          ).rejected == []
    one = desk.raise_exception(tracking(1), ExceptionCode.DAMAGED, by="hub-lead").case_id
    two = desk.raise_exception(tracking(2), ExceptionCode.DAMAGED, by="hub-lead").case_id
    clock.now = at(11, 10)
    desk.acknowledge(tracking(2), two, by="bob")
    clock.now = at(11, 20)
    desk.hand_over(tracking(2), two, by="bob", to_agent="anna")  # not first contact any more
    clock.now = at(11, 30)
    desk.acknowledge(tracking(1), one, by="anna")
    clock.now = at(12)
    desk.resolve(tracking(2), two, Outcome.REDELIVERED, by="anna")  # 50 min after bob's ack
    clock.now = at(12, 30)
    rate(service, 2, resolution(two), 2, clock.now)  # low: a complaint-level follow-up, 16:30
    rate(service, 1, DELIVERY, 5, clock.now)
    clock.now = at(13, 30)
    desk.resolve(tracking(1), one, Outcome.REDELIVERED, by="anna")  # 120 min after the ack
    clock.now = at(14)
    for _ in range(2):  # the same parcel twice: the second is a repeat
        complaints.file(tracking(3), ComplaintCategory.DELAY, Channel.PHONE, words=None, by="cs-1")
    clock.now = at(15)
    for r in runners.values():
        r.run()
    views = {name: runners[name].projection.view for name in ("exceptions", "cases", "tracking")}
    [low] = [f for f in views["cases"].follow_ups() if f["level"] == "complaint"]
    calls.record(tracking(2), low["follow_up_id"], FollowUpOutcome.SATISFIED, by="anna")
    runners["cases"].run()

    reports = Reports(service, views["exceptions"], views["cases"], views["tracking"])
    day = reports.report(Period.DAY, WEDNESDAY)
    assert (day["from"], day["to"]) == (at(0).isoformat(), (at(0) + timedelta(days=1)).isoformat())
    assert day["centre"] == {
        "resolved": 2, "first_contact_resolution": 0.5, "sla_hit_rate": 1.0,
        "average_handling_minutes": 85.0,  # (120 + 50) / 2
        # The resolutions' own follow-ups are due Thursday and Friday; only the
        # complaint-level one (16:30) falls in the day, and it was done.
        "follow_ups_due": 1, "follow_up_completion": 1.0,
        "ratings": 2, "csat": 0.5, "complaints": 2, "repeat_complaints": 1,
        "parcels_delivered": 2, "complaints_per_10k_parcels": 10000.0,
    }
    anna = day["agents"]["anna"]
    assert (anna["resolved"], anna["first_contact_resolution"], anna["csat"],
            anna["follow_up_completion"]) == (2, 0.5, 0.0, 1.0)
    assert "bob" not in day["agents"]  # he resolved nothing and nothing of his was rated
    assert day["teams"]["hub"]["resolved"] == 2 and day["teams"]["hub"]["ratings"] == 1
    assert reports.report(Period.WEEK, WEDNESDAY)["centre"]["resolved"] == 2
    assert reports.report(Period.MONTH, date(2026, 11, 1))["from"] == datetime(
        2026, 11, 1, tzinfo=CST).isoformat()
    thursday = reports.report(Period.DAY, date(2026, 11, 26))["centre"]
    assert (thursday["resolved"], thursday["parcels_delivered"], thursday["csat"]) == (0, 0, None)
    # The two complaints (one a repeat) are with the team whose case they are; nobody has
    # taken them, so no agent counts them; the hub's team had none.
    service_desk = day["teams"]["customer_service"]
    assert (service_desk["complaints"], service_desk["repeat_complaints"]) == (2, 1)
    assert day["teams"]["hub"]["complaints"] == 0 and anna["complaints"] == 0
    assert "complaints_per_10k_parcels" not in service_desk  # the centre's figure alone
    assert [(r["scope"], r["name"]) for r in as_rows(day)] == [
        ("centre", ""), ("team", "customer_service"), ("team", "hub"), ("agent", "anna")]
