"""The customer tracking page in real Chromium, against `parcelflow serve` on PostgreSQL:
a customer looks a parcel up, proves a phone, reads what happened in Chinese and in
English, and files a complaint; every page passes axe-core."""

from __future__ import annotations

import re
from datetime import datetime

from playwright.sync_api import expect

from parcelflow.application.complaints import Complaints
from parcelflow.consumers.notifications.messages import local_time
from tests.browser.parcels import RECEIVER_PHONE_LAST4, SENDER_PHONE_LAST4
from tests.support.browser import DESKTOP, PHONE, assert_accessible


def _look_up(page, site, tracking_no: str, label: str, button: str) -> None:
    page.goto(site.url("/track"))
    page.get_by_label(label).fill(tracking_no)
    page.get_by_role("button", name=button).click()
    page.wait_for_url(site.url(f"/track/{tracking_no}"))


def test_a_customer_looks_up_proves_the_phone_and_reads_the_timeline_in_chinese_and_english(
        site, parcels, pages, screenshots):
    page = pages.open(locale="zh-CN")
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    _look_up(page, site, parcels.failed, "运单号", "查询")
    assert page.locator(".status").inner_text() == "派送未成功"
    assert page.get_by_role("heading", name="物流节点").is_visible()  # milestones only
    assert page.get_by_role("heading", name="完整物流记录", exact=True).count() == 0
    assert page.get_by_text("收件人不在").count() == 0  # the reason needs the proof
    route = page.get_by_role("img", name=re.compile("^路线：深圳 → 深圳转运中心 → 上海转运中心 → 上海"))
    assert route.count() == 1 and route.is_visible()
    assert_accessible(page)

    page.get_by_label("手机号后4位").fill(RECEIVER_PHONE_LAST4)
    page.get_by_role("button", name="查看完整物流").click()
    # Waits for the answer's page: the click returns once it starts loading.
    expect(page.get_by_role("heading", name="完整物流记录", exact=True)).to_be_visible()
    story = page.get_by_role("region", name="包裹动态说明")
    assert "我们已尝试派送（第1次），但收件人不在。" in story.inner_text()
    assert "快递员将在下一个派送班次再次派送" in story.inner_text()
    timeline = page.locator("#timeline li")
    assert timeline.first.inner_text().endswith("派送未成功 · 上海第1营业部")
    assert timeline.count() == 12  # registration and eleven scans
    assert_accessible(page)
    page.screenshot(path=screenshots / "track-zh-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert page.get_by_role("img", name=re.compile("^路线")).is_visible()  # the tall drawing
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=screenshots / "track-zh-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Full timeline", exact=True)).to_be_visible()  # proof remembered
    story = page.get_by_role("region", name="What is happening")
    assert "We tried to deliver it (attempt 1), but nobody was available to receive it." \
        in story.inner_text()
    assert timeline.first.inner_text().endswith(
        "Delivery attempt failed · Shanghai Delivery Station 1")
    assert_accessible(page)
    page.screenshot(path=screenshots / "track-en-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=screenshots / "track-en-phone.png", full_page=True)
    assert not [u for u in urls if RECEIVER_PHONE_LAST4 in u]  # never in a URL


def test_the_remembered_proof_is_an_httponly_samesite_session_cookie_without_the_digits(
        site, parcels, pages):
    page = pages.open()
    page.goto(site.url(f"/track/{parcels.pickup}"))
    page.get_by_label("Last 4 digits of phone").fill(SENDER_PHONE_LAST4)  # the sender's
    page.get_by_role("button", name="Show full timeline").click()
    story = page.get_by_role("region", name="What is happening").inner_text()
    assert "Your parcel is waiting for you at Shanghai Pickup Point 1." in story
    assert re.search(r"Pickup code: \d{6}", story)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "pf_proof"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["expires"] == -1  # a session cookie: gone with the browser session
    assert SENDER_PHONE_LAST4 not in cookie["value"]


def test_without_javascript_lookup_proof_and_timeline_work(site, parcels, pages):
    page = pages.open(java_script=False)
    _look_up(page, site, parcels.delivered, "Tracking number", "Track")
    assert page.locator(".status").inner_text() == "Delivered"
    page.get_by_label("Last 4 digits of phone").fill(RECEIVER_PHONE_LAST4)
    page.get_by_role("button", name="Show full timeline").click()
    expect(page.get_by_role("heading", name="Full timeline", exact=True)).to_be_visible()
    facts = page.locator("dl.facts").inner_text()
    assert "Signed for by" in facts and "李*" in facts and "李华" not in page.content()


def test_a_customer_files_a_complaint_and_sees_its_state_and_due_time(site, parcels, pages):
    page = pages.open()
    page.goto(site.url(f"/track/{parcels.weather}"))
    page.get_by_label("Last 4 digits of phone").fill(RECEIVER_PHONE_LAST4)
    page.get_by_role("button", name="Show full timeline").click()
    story = page.get_by_role("region", name="What is happening").inner_text()
    assert "Problem: bad weather has delayed it." in story
    page.get_by_label("What is it about?").select_option(label="It is late")
    page.get_by_label("Your message").fill("   ")  # blank: the browser lets it through
    page.get_by_role("button", name="Send complaint").click()
    assert page.get_by_role("alert").inner_text() == \
        "Please write a few words (at most 4000 characters)."
    assert_accessible(page)
    page.get_by_label("Your message").fill("It has been stuck for a day, please call me.")
    page.get_by_role("button", name="Send complaint").click()
    assert page.get_by_role("status").inner_text() == \
        "Thank you. Your complaint has been received."

    # The same complaint `parcelflow complaints show` reads, on the 7-day clock.
    parcel = site.service.get(parcels.weather)
    [complaint] = parcel.complaints.values()
    shown = Complaints(site.service).show(parcels.weather, complaint.complaint_id, reveal=True)
    assert (shown["category"], shown["channel"], shown["status"]) == ("delay", "web", "open")
    assert shown["words"] == "It has been stuck for a day, please call me."
    due = datetime.fromisoformat(shown["due"])
    assert (due - datetime.fromisoformat(shown["filed_at"])).days == 7
    listed = page.locator("ul.complaints li").inner_text()
    assert "It is late — Open" in listed
    assert f"Answer due by {local_time(due, 'en', site.service.network.zone)}" in listed
    assert_accessible(page)
    page.reload()  # a reload shows the page again and files nothing twice
    assert len(site.service.get(parcels.weather).complaints) == 1
