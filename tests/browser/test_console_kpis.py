"""The service KPIs in the console's statistics, in real Chromium: one agent's day,
counted by hand, shown as `parcelflow report` computes it (the same service)."""

from __future__ import annotations

from datetime import datetime, timedelta

from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.bootstrap import build_surveys
from parcelflow.domain.satisfaction import resolution
from parcelflow.domain.vocabulary import ExceptionCode, Outcome
from parcelflow.settings import Settings
from tests.browser.conftest import SURVEY_SECRET
from tests.browser.test_console import _parcel, sign_in
from tests.support.browser import assert_accessible
from tests.support.builders import CST


def test_the_statistics_show_an_agents_kpis_as_counted_by_hand(site, pages, screenshots):
    agent, other = f"cs-kpi-{site.new_number()}", "cs-kpi-other"
    noon = (datetime.now(CST) - timedelta(days=1)).replace(hour=12, minute=0, second=0,
                                                           microsecond=0)  # yesterday
    a, b = _parcel(site), _parcel(site)
    desk = ExceptionWorkflow(site.service)

    def at(minutes: int) -> None:
        site.clock.now = noon + timedelta(minutes=minutes)

    at(-60)
    exc_a = desk.raise_exception(a, ExceptionCode.DAMAGED, by="cs-1").case_id
    exc_b = desk.raise_exception(b, ExceptionCode.DAMAGED, by="cs-1").case_id
    at(-55)
    desk.acknowledge(b, exc_b, by=other)
    at(-50)
    desk.acknowledge(a, exc_a, by=agent)
    at(-45)
    desk.hand_over(b, exc_b, by=other, to_agent=agent)
    at(-20)
    desk.resolve(a, exc_a, Outcome.REDELIVERED, by=agent)  # taken and closed by one person
    at(-5)
    desk.resolve(b, exc_b, Outcome.REDELIVERED, by=agent)  # after a hand-over
    at(0)
    surveys = build_surveys(site.service, Settings(_env_file=None,  # type: ignore[call-arg]
                                                   database_url=site.database_url,
                                                   survey_secret=SURVEY_SECRET))
    assert surveys is not None
    for no, exc, stars in ((a, exc_a, 5), (b, exc_b, 2)):
        token = surveys.link(no, resolution(exc)).rsplit("/", 1)[1]
        surveys.answer(token, stars)
    site.catch_up()

    # By hand, for the agent on that day: 2 resolved; 1 of them by whoever took it first
    # (b was handed over): 50%; both well inside the 24-hour resolution clock: 100%;
    # handling from acknowledgement to resolution 30 min (a) and 50 min (b): 40.0;
    # ratings 5 and 2, one of them 4-5: 50%.
    page = sign_in(site, pages, "supervisor")
    day = noon.date().isoformat()
    page.goto(site.url(f"/console/stats?period=day&on={day}"))
    row = page.locator(f'tr[data-scope="agent"][data-name="{agent}"]')
    cells = [c.strip() for c in row.locator("th, td").all_inner_texts()]
    assert cells[:8] == ["agent", agent, "2", "50%", "100%", "40.0", cells[6], "50% (2 rated)"]
    assert page.get_by_role("img", name="CSAT (ratings of 4-5) per day").count() == 1
    assert page.get_by_role("img", name="SLA hit rate per day").count() == 1
    assert_accessible(page)

    page.goto(site.url(f"/console/stats?period=week&on={day}"))
    week = page.locator(f'tr[data-scope="agent"][data-name="{agent}"]')
    assert [c.strip() for c in week.locator("td").all_inner_texts()][:4] == [
        agent, "2", "50%", "100%"]
    chart = page.get_by_role("img", name="CSAT (ratings of 4-5) per day")
    days_so_far = (min(noon.date() + timedelta(days=6 - noon.weekday()),
                       datetime.now(CST).date()) - (noon.date() - timedelta(
                           days=noon.weekday()))).days + 1
    assert chart.locator("rect, text.none").count() == days_so_far  # one mark a day
    page.screenshot(path=screenshots / "console-kpis.png", full_page=True)
