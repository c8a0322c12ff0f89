"""A complaint's due time in the cases view is its own exception's clock, as the queue
reads it: business time where policy says (the default calendar, Monday to Friday
09:00-18:00 in Shanghai), standing still while it waits on the customer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parcelflow.application.complaints import Complaints
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.situation import situation
from parcelflow.consumers.notifications.messages import local_time
from parcelflow.domain.vocabulary import Channel, ComplaintCategory, ExceptionStatus
from parcelflow.projections.registry import runner
from parcelflow.projections.tracking_view import utc
from tests.integration.test_console import sign_in
from tests.support.api import make_api
from tests.support.builders import journey, manifest, tracking

CST = timezone(timedelta(hours=8))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


@pytest.fixture
def business_complaints(monkeypatch):
    # A 24-hour complaint clock on business time (the regulation's 7 calendar days would
    # span weeks of working hours; the arithmetic is the same).
    monkeypatch.setenv("PARCELFLOW_POLICY", '{"complaint_resolution": "PT24H", '
                       '"basis": {"complaint_resolution": "business"}}')


def test_the_cases_view_shows_a_complaints_business_time_due_and_its_pause(
        business_complaints, make_service, postgres_url, clock):
    service = make_service(postgres_url)
    service.register([manifest(1, promised_by=(at(2026, 12, 30, 18)).isoformat())])
    clock.now = at(2026, 11, 27, 16)
    service.ingest(journey(1, t0=clock.now - timedelta(hours=20))[:6])
    clock.now = at(2026, 11, 27, 17)  # Friday, an hour before the desk closes
    filed = Complaints(service).file(tracking(1), ComplaintCategory.DELAY, Channel.PHONE,
                                     words="where is it", by="cs-1")
    cases = runner(service, "cases")
    queue = runner(service, "exceptions")

    def row() -> dict:
        cases.run()
        [r] = cases.projection.view.complaints(limit=10)
        return r

    try:
        first = row()
        # Friday 17-18 (1 h), Monday 9 h, Tuesday 9 h, Wednesday 09-14 (5 h): 24 working
        # hours. On the calendar it would be Saturday 17:00.
        assert (first["due"], first["clock_basis"], first["calendar"]) == (
            utc(at(2026, 12, 2, 14)), "business", "default")
        queue.run()
        exc = queue.projection.view.get(first["exception_id"])
        assert exc["resolution_due"] == first["due"]  # the queue and the cases agree

        desk = ExceptionWorkflow(service)
        clock.now = at(2026, 11, 30, 10)  # Monday: 2 h counted, 22 left
        desk.acknowledge(tracking(1), first["exception_id"], by="cs-anna")
        desk.await_answer(tracking(1), first["exception_id"], ExceptionStatus.AWAITING_CUSTOMER,
                          by="cs-anna", reason="asked which address")
        waiting = row()
        assert (waiting["due"], waiting["waiting_since"]) == (None, utc(at(2026, 11, 30, 10)))
        [told] = situation(service, tracking(1)).complaints  # what the customer's page reads
        assert told.due is None
        assert cases.projection.view.complaints(overdue_at=at(2026, 12, 31, 0)) == []

        clock.now = at(2026, 12, 1, 9)  # Tuesday 09:00: the customer answers
        desk.resume(tracking(1), first["exception_id"], by="cs-anna")
        resumed = row()
        # 22 h from Tuesday 09:00: Tuesday 9, Wednesday 9, Thursday 09-13.
        assert (resumed["due"], resumed["waiting_since"]) == (utc(at(2026, 12, 3, 13)), None)
        assert Complaints(service).show(tracking(1), filed.case_id)["due"] == resumed["due"]
        [told] = situation(service, tracking(1)).complaints
        assert told.due == at(2026, 12, 3, 13)

        for api in make_api(service, postgres_url):
            sign_in(api, "cs_agent")
            page = api.client.get("/console/complaints").text
            assert "2026-12-03 13:00 · business time" in page
            # The customer's tracking page tells the same due time (it told the calendar's).
            tracking_view = runner(service, "tracking")
            tracking_view.run()
            tracking_view.close()
            api.client.post(f"/track/{tracking(1)}/proof", data={"phone_last4": "4321"})
            customer = api.client.get(f"/track/{tracking(1)}", headers={"Accept-Language": "en"})
            assert "Answer due by " + local_time(at(2026, 12, 3, 13), "en",
                                                 service.network.zone) in customer.text
    finally:
        cases.close()
        queue.close()
