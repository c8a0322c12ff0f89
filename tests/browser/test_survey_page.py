"""The satisfaction survey as a receiver answers it: the delivered email arrives at a
real SMTP server, its link opens parcelflow's survey page in Chromium (JavaScript off:
the rating is plain radio buttons and a form POST), the answer is recorded once, and
the page passes axe-core on a desktop and a phone."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

from playwright.sync_api import expect

from parcelflow.consumers.notifications.worker import build_notify_worker
from parcelflow.settings import Settings
from tests.browser.conftest import SURVEY_SECRET
from tests.support.browser import PHONE, assert_accessible
from tests.support.builders import CST, journey, manifest, scan, tracking
from tests.support.mail import MailSink

RECEIVER = "survey.receiver@example.com"


def test_a_receiver_answers_the_survey_from_the_delivered_email(site, pages, screenshots):
    n = site.new_number()
    t0 = (datetime.now(CST) - timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
    parcel = manifest(n, promised_by=(t0 + timedelta(days=3)).isoformat())
    parcel["receiver"] = {**parcel["receiver"], "email": RECEIVER, "language": "en"}
    site.register(parcel, at=t0 - timedelta(hours=2))
    site.scan(*journey(n, t0=t0)[:10], scan("delivered", "SHA-STA-13", 25, n, t0=t0,
                                            signed_by="recipient"))

    sink = MailSink().start()
    try:
        settings = Settings(_env_file=None, database_url=site.database_url,  # type: ignore[call-arg]
                            smtp_url=sink.url, survey_secret=SURVEY_SECRET,
                            survey_url=site.url("/survey/{token}"), notify_channels=["email"])
        worker = build_notify_worker(site.service, settings)
        try:
            worker.run(threading.Event(), follow=False)  # what `parcelflow notify` does
        finally:
            worker.close()
        [delivered] = [m for m in sink.to(RECEIVER)
                       if "delivered" in str(m["Subject"]).lower()]
    finally:
        sink.stop()
    body = delivered.get_body(("plain",)).get_content()
    [link] = re.findall(r"How did we do\? Rate us from 1 to 5: (\S+)", body)
    assert link.startswith(site.url("/survey/"))

    page = pages.open(locale="en-GB")  # JavaScript on here only for axe-core
    page.goto(link)
    assert page.get_by_role("heading", name="How did we do?").is_visible()
    assert f"delivery of parcel {tracking(n)}" in page.locator(".lead").inner_text()
    assert "李华" not in page.content() and "13987654321" not in page.content()
    assert page.get_by_role("group", name="Your rating").get_by_role("radio").count() == 5
    assert_accessible(page)
    page.screenshot(path=screenshots / "survey-en-desktop.png", full_page=True)

    # The receiver, on a phone, without JavaScript: native radios and a form POST.
    phone = pages.open(locale="en-GB", viewport=PHONE, java_script=False)
    phone.goto(link)
    phone.get_by_text("4", exact=True).click()  # the fourth star, as a thumb taps it
    assert phone.get_by_role("radio", name="4 stars, satisfied").is_checked()
    phone.get_by_label("Anything you would like to tell us? (optional)").fill(
        "Friendly courier, a little late")
    phone.screenshot(path=screenshots / "survey-en-phone.png", full_page=True)
    phone.get_by_role("button", name="Send").click()
    phone.wait_for_url(link + "?thanks=1")
    assert phone.get_by_role("heading", name="Thank you").is_visible()
    phone.screenshot(path=screenshots / "survey-en-thanks-phone.png", full_page=True)
    assert site.service.get(tracking(n)).ratings["delivery"].rating == 4

    page.set_viewport_size(PHONE)
    page.goto(link + "?thanks=1")
    assert page.get_by_role("heading", name="Thank you").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert_accessible(page)
    page.goto(link)  # the link again: answered, nothing more to send
    assert page.get_by_role("heading", name="Already answered").is_visible()
    assert page.get_by_role("button", name="Send").count() == 0
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", name="已评价")).to_be_visible()
