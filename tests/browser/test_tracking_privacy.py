"""What the tracking page must never do: show personal data beyond the masked forms,
tell a wrong proof from an unknown parcel, or let proofs be guessed past the API's limit;
and every page of it carries the security headers and passes axe-core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.sync_api import expect

from tests.browser.parcels import RECEIVER_PHONE_LAST4
from tests.support.browser import assert_accessible

UNKNOWN = "PF202611229999999"


@contextmanager
def _proven_client(site, tracking_no: str) -> Iterator[httpx.Client]:
    """A client that proved the receiver's phone on the parcel (it holds the cookie)."""
    with httpx.Client(base_url=site.base, headers={"Accept-Language": "en"}) as client:
        r = client.post(f"/track/{tracking_no}/proof",
                        data={"phone_last4": RECEIVER_PHONE_LAST4})
        assert r.status_code == 303 and "pf_proof" in r.headers["set-cookie"]
        yield client


def _personal(manifests) -> set[str]:
    found = set()
    for m in manifests.values():
        for party in (m["sender"], m["receiver"]):
            found |= {party["name"], party["phone"], party["address"]}
            found |= {party["address"][:8]}  # no part of the street either
        found.add(m["receiver"]["email"])
    return found


def test_no_page_holds_a_full_phone_name_or_address(site, parcels):
    personal = _personal(parcels.manifests)
    seen: dict[str, str] = {}
    anonymous = httpx.Client(base_url=site.base)
    seen["form"] = anonymous.get("/track").text
    seen["unknown"] = anonymous.get(f"/track/{UNKNOWN}").text
    for tracking_no in (parcels.failed, parcels.pickup, parcels.delivered, parcels.weather):
        seen[f"coarse {tracking_no}"] = anonymous.get(f"/track/{tracking_no}").text
        with _proven_client(site, tracking_no) as client:
            for lang in ("en", "zh-CN"):
                seen[f"full {tracking_no} {lang}"] = client.get(
                    f"/track/{tracking_no}", headers={"Accept-Language": lang}).text
    assert "Full timeline" in seen[f"full {parcels.delivered} en"]  # the proof held
    assert "李*" in seen[f"full {parcels.delivered} en"]  # who signed, masked
    leaks = {page: [p for p in personal if p in html] for page, html in seen.items()}
    assert not {page: found for page, found in leaks.items() if found}
    log = site.log_path.read_text()
    assert not [p for p in personal if p in log]


def test_a_wrong_answer_reads_like_an_unknown_parcel(site, parcels):
    with httpx.Client(base_url=site.base, headers={"Accept-Language": "en"}) as client:
        wrong = client.post(f"/track/{parcels.delivered}/proof", data={"phone_last4": "0000"})
        unknown = client.post(f"/track/{UNKNOWN}/proof", data={"phone_last4": "0000"})
        never = client.get(f"/track/{UNKNOWN}")
    assert wrong.status_code == unknown.status_code == never.status_code == 404
    assert "pf_proof" not in wrong.headers.get("set-cookie", "")
    same = wrong.text.replace(parcels.delivered, UNKNOWN)
    assert same == unknown.text == never.text
    assert "No parcel found" in same


def test_wrong_answers_on_the_page_and_the_api_count_against_one_limit(site, parcels, pages):
    """The default limit: 10 wrong answers an hour per client on one parcel; five here on
    the page and five on the API lock this client out of both, right answer included."""
    number = parcels.limited
    with httpx.Client(base_url=site.base) as client:
        for _ in range(5):
            r = client.post(f"/track/{number}/proof", data={"phone_last4": "0000"})
            assert r.status_code == 404
        for _ in range(5):
            r = client.get(f"/v1/parcels/{number}", params={"phone_last4": "0000"})
            assert r.status_code == 404
        api = client.get(f"/v1/parcels/{number}", params={"phone_last4": RECEIVER_PHONE_LAST4})
        assert api.status_code == 429
    page = pages.open()
    page.goto(site.url(f"/track/{number}"))
    page.get_by_label("Last 4 digits of phone").fill(RECEIVER_PHONE_LAST4)
    with page.expect_response(re.compile("/proof$")) as answer:
        page.get_by_role("button", name="Show full timeline").click()
    assert answer.value.status == 429 and int(answer.value.headers["retry-after"]) > 0
    expect(page.get_by_role("heading", name="Too many tries")).to_be_visible()
    assert page.get_by_role("heading", name="Full timeline", exact=True).count() == 0
    assert_accessible(page)


def test_every_tracking_page_passes_axe_in_both_languages(site, parcels, pages):
    for locale in ("zh-CN", "en-GB"):
        page = pages.open(locale=locale)
        for path in ("/track", "/track/not-a-number", f"/track/{UNKNOWN}"):
            page.goto(site.url(path))
            assert_accessible(page)
        for tracking_no in (parcels.failed, parcels.pickup, parcels.delivered, parcels.weather):
            page.goto(site.url(f"/track/{tracking_no}"))
            assert_accessible(page)  # without proof
            page.locator("#phone_last4").fill("12")  # too short for the server: 422 page
            page.locator("#phone_last4").evaluate("e => e.removeAttribute('pattern')")
            page.locator("#proof button").click()
            # Waits for the answer's page: the click returns once it starts loading.
            expect(page.locator("#phone_last4_error")).to_be_visible()
            assert_accessible(page)
            page.locator("#phone_last4").fill(RECEIVER_PHONE_LAST4)
            page.locator("#proof button").click()
            expect(page.locator("#timeline")).to_be_visible()
            assert_accessible(page)  # with proof


def test_tracking_pages_carry_the_security_headers(site, parcels):
    with _proven_client(site, parcels.failed) as client:
        for r in (client.get(f"/track/{parcels.failed}"), client.get(f"/track/{UNKNOWN}"),
                  client.get("/track/not-a-number")):
            assert r.headers["content-type"].startswith("text/html")
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["cache-control"] == "no-store"
            assert ' style="' not in r.text and "<script>" not in r.text  # nothing inline
