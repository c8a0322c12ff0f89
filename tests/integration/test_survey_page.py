"""The survey page at the HTTP level, on PostgreSQL: the question in both languages, one
answer through the form, a second one refused, a forged link answered with the
not-found page, an expired one with a page that says so, and forms that did not come
from the page refused without recording anything."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.support.api import make_api
from tests.support.builders import journey, manifest, tracking

SECRET = "test-survey-secret-0123456789"
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def api(make_service, postgres_url):
    yield from make_api(make_service(postgres_url), postgres_url, survey_secret=SECRET)


def delivered_link(api, n: int) -> str:
    """The page's path for parcel n's delivery survey, as staff make the link."""
    api.service.register([manifest(n)])
    api.service.ingest(journey(n))
    made = api.client.post("/v1/surveys", json={"tracking_no": tracking(n)},
                           headers=api.auth("cs_agent"))
    assert made.status_code == 201, made.text
    return urlsplit(made.json()["url"]).path


def form_token(page: str) -> str:
    [value] = re.findall(r'name="form_token" value="([^"]+)"', page)
    return value


def test_the_customer_answers_once_through_the_page(api):
    path = delivered_link(api, 1)
    asked = api.client.get(path, headers=EN)
    assert asked.status_code == 200
    assert "How satisfied are you with the delivery of parcel " + tracking(1) in asked.text
    assert asked.text.count('type="radio"') == 5 and 'name="comment"' in asked.text
    assert "default-src 'self'" in asked.headers["content-security-policy"]
    chinese = api.client.get(path, headers=ZH)
    assert f"您对包裹 {tracking(1)} 的派送满意吗" in chinese.text
    for page in (asked.text, chinese.text):  # the receiver is not on the page
        assert "李华" not in page and "13987654321" not in page and "li.hua" not in page

    sent = api.client.post(path, headers=EN, follow_redirects=False, data={
        "form_token": form_token(asked.text), "rating": "4", "comment": "friendly courier"})
    assert sent.status_code == 303 and sent.headers["location"] == f"{path}?thanks=1"
    thanks = api.client.get(sent.headers["location"], headers=EN)
    assert "Thank you for rating parcel " + tracking(1) in thanks.text
    rating = api.service.get(tracking(1)).ratings["delivery"]
    assert rating.rating == 4 and "friendly courier" not in (rating.comment_sealed or "")

    again = api.client.post(path, headers=EN, data={
        "form_token": form_token(asked.text), "rating": "1"})
    assert again.status_code == 409 and "has already been answered" in again.text
    assert api.service.get(tracking(1)).ratings["delivery"].rating == 4
    later = api.client.get(path, headers=ZH)
    assert later.status_code == 200 and "已经提交过了" in later.text
    assert "friendly courier" not in api.logs.getvalue()


def test_a_forged_link_is_not_found_and_an_expired_one_says_so(api, clock):
    path = delivered_link(api, 2)
    token = path.rsplit("/", 1)[1]
    forged = f"/survey/{token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}"
    for bad in (forged, "/survey/not-a-token", "/survey/" + "x" * 700):
        page = api.client.get(bad, headers=EN)
        assert page.status_code == 404 and "Page not found" in page.text, bad
        assert page.headers["content-type"].startswith("text/html")
    refused = api.client.post(forged, headers=EN, data={"rating": "5"})
    assert refused.status_code == 404

    asked = api.client.get(path, headers=EN)
    clock.advance(days=15)  # links are valid 14 days
    expired = api.client.get(path, headers=EN)
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert "此链接已过期" in api.client.get(path, headers=ZH).text
    late = api.client.post(path, headers=EN, data={
        "form_token": form_token(asked.text), "rating": "5"})
    assert late.status_code == 410 and "This link has expired" in late.text
    assert api.service.get(tracking(2)).ratings == {}


def test_a_form_that_did_not_come_from_the_page_records_nothing(api):
    path = delivered_link(api, 3)
    asked = api.client.get(path, headers=EN)
    without = api.client.post(path, headers=EN, data={"rating": "5"})
    assert without.status_code == 400 and "send it again" in without.text
    assert re.search(r'value="5"[^>]*checked', without.text)  # kept for the second try
    other_site = api.client.post(path, headers={**EN, "Origin": "https://evil.example"},
                                 data={"form_token": form_token(asked.text), "rating": "5"})
    assert other_site.status_code == 403 and "was not recorded" in other_site.text
    fetched = api.client.post(path, headers={**EN, "Sec-Fetch-Site": "cross-site"},
                              data={"form_token": form_token(asked.text), "rating": "5"})
    assert fetched.status_code == 403
    other_link = delivered_link(api, 4)
    foreign = api.client.post(other_link, headers=EN, data={
        "form_token": form_token(asked.text), "rating": "5"})  # a token bound to parcel 3
    assert foreign.status_code == 400
    no_rating = api.client.post(path, headers=EN, data={"form_token": form_token(asked.text)})
    assert no_rating.status_code == 422 and "Please choose a rating" in no_rating.text
    assert api.service.get(tracking(3)).ratings == {}
    assert api.service.get(tracking(4)).ratings == {}
