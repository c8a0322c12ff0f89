"""Satisfaction surveys end to end on PostgreSQL, through the HTTP API: a signed link,
the customer's rating (once), and the complaint-level follow-up a poor one makes due."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.api import is_problem, make_api
from tests.support.builders import journey, manifest, tracking

SECRET = "test-survey-secret-0123456789"
CST = timezone(timedelta(hours=8))


@pytest.fixture
def api(make_service, postgres_url):
    yield from make_api(make_service(postgres_url), postgres_url, survey_secret=SECRET)


def token_of(url: str) -> str:
    # Unset PARCELFLOW_SURVEY_URL: parcelflow's own survey page, where `serve` listens.
    assert url.startswith("http://127.0.0.1:8000/survey/")
    return url.rsplit("/", 1)[1]


def test_survey_link_rating_and_the_complaint_level_follow_up_it_makes_due(api, clock):
    api.service.register([manifest(1), manifest(2)])
    api.service.ingest(journey(1) + journey(2)[:3])
    agent = api.auth("cs_agent")
    not_yet = api.client.post("/v1/surveys", json={"tracking_no": tracking(2)}, headers=agent)
    assert "has not been delivered" in is_problem(not_yet, 409)["detail"]
    made = api.client.post("/v1/surveys", json={"tracking_no": tracking(1)}, headers=agent)
    assert made.status_code == 201
    token = token_of(made.json()["url"])

    # The customer, with the link alone (no credential).
    asked = api.client.get(f"/v1/surveys/{token}")
    assert asked.json() == {"tracking_no": tracking(1), "occasion": "delivery",
                            "answered": False, "scale": [1, 5]}
    answered = api.client.post(f"/v1/surveys/{token}", json={
        "rating": 2, "comment": "courier was rude, call me on 13987654321"})
    assert answered.status_code == 200, answered.text
    follow_up_id = answered.json()["follow_up_id"]
    assert follow_up_id
    assert api.client.get(f"/v1/surveys/{token}").json()["answered"] is True
    again = api.client.post(f"/v1/surveys/{token}", json={"rating": 5})
    assert "already rated" in is_problem(again, 409)["detail"]
    assert "13987654321" not in api.logs.getvalue()
    stored = api.service.get(tracking(1)).ratings["delivery"]
    assert stored.rating == 2 and "13987654321" not in (stored.comment_sealed or "")

    api.catch_up("cases")
    listed = api.client.get("/v1/followups", headers=agent).json()
    [row] = listed["follow_ups"]
    assert (row["follow_up_id"], row["level"], row["code"], row["exception_id"]) == (
        follow_up_id, "complaint", "low_rating", None)
    # The complaint-level clock: 4 business hours from the rating (Wednesday 25 November
    # 08:00 in Shanghai, before the desk opens): 09:00-13:00, Wednesday 13:00.
    assert clock.now == datetime(2026, 11, 25, 8, tzinfo=CST)
    assert row["due"] == datetime(2026, 11, 25, 5, tzinfo=timezone.utc).isoformat()
    centre = api.client.get("/v1/reports?period=week", headers=agent).json()["centre"]
    assert (centre["ratings"], centre["csat"]) == (1, 0.0)  # one rating, of 2
    recorded = api.client.post(f"/v1/followups/{follow_up_id}/record", headers=agent, json={
        "tracking_no": tracking(1), "outcome": "not_satisfied", "note": "still unhappy"})
    assert recorded.status_code == 200, recorded.text
    [complaint] = api.service.get(tracking(1)).complaints.values()
    assert complaint.status == "open"  # the poor rating became a complaint


def test_a_forged_or_expired_link_is_refused(api, clock):
    api.service.register([manifest(3)])
    api.service.ingest(journey(3))
    url = api.client.post("/v1/surveys", json={"tracking_no": tracking(3)},
                          headers=api.auth("cs_agent")).json()["url"]
    token = token_of(url)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert "not valid" in is_problem(api.client.get(f"/v1/surveys/{forged}"), 404)["detail"]
    clock.advance(days=15)  # links are valid 14 days
    assert "expired" in is_problem(
        api.client.post(f"/v1/surveys/{token}", json={"rating": 4}), 410)["detail"]
    assert api.service.get(tracking(3)).ratings == {}
