"""What every page gives: its security headers, both languages and the switch between
them, parcelflow's own assets only, accessible to axe-core in real Chromium."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.support.browser import assert_accessible


def test_the_tracking_form_speaks_the_browsers_language_and_switches_on_a_link(site, pages):
    page = pages.open(locale="zh-CN")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(site.url("/track"))
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_label("运单号").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="English").click()
    expect(page.get_by_label("Tracking number")).to_be_visible()
    assert page.url == site.url("/track")
    assert page.get_by_role("button", name="Track").is_visible()
    assert_accessible(page)
    page.goto(site.url("/track"))  # remembered
    assert page.locator("html").get_attribute("lang") == "en"
    assert all(url.startswith(site.base) for url in requested), requested  # no CDN, no fonts


def test_pages_carry_the_security_headers_and_assets_are_not_sniffed(site):
    page = httpx.get(site.url("/track"))
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    asset = httpx.get(site.url("/static/vendor/htmx-2.0.11.min.js"))
    assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
    assert asset.headers["content-type"].startswith("text/javascript")


def test_the_language_switch_never_leaves_the_site(site):
    r = httpx.get(site.url("/lang/en"), params={"next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = httpx.get(site.url("/lang/en"), params={"next": "https://evil.example/"})
    assert r.headers["location"] == "/"


def test_the_accessibility_check_finds_what_it_is_for(site, pages):
    """The check itself: an unlabelled field and a button without a name are reported."""
    page = pages.open()
    page.goto(site.url("/track"))
    page.evaluate("""() => {
        document.querySelector('label[for=tracking_no]').remove();
        document.querySelector('button').textContent = '';
    }""")
    from tests.support.browser import axe_violations

    found = {v["id"] for v in axe_violations(page)}
    assert {"label", "button-name"} <= found
