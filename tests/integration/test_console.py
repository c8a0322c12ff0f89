"""The staff console over HTTP (in-process, on PostgreSQL): sessions, CSRF, roles, the
queue and an exception's actions. The same flows in a real browser: tests/browser."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from parcelflow.adapters.credentials import Kind, Role
from tests.support.api import Api, make_api
from tests.support.builders import journey, manifest, tracking


def _parcel(api: Api, n: int, scans: int = 3) -> str:
    api.client.post("/v1/parcels", json=manifest(n), headers=api.auth("orders"))
    for item in journey(n)[:scans]:
        assert api.client.post("/v1/scans", json=[item],
                               headers=api.auth(item["facility"])).json()["accepted"] == 1
    api.catch_up()
    return tracking(n)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(api: Api, role: str) -> str:
    """Sign the test client in as staff of this role; the session's CSRF token."""
    api.client.cookies.clear()
    form = api.client.get("/console/sign-in")
    issued = api.key(f"emp-{role}", Kind.STAFF, role=Role(role))
    r = api.client.post("/console/sign-in", data={"token": issued.token,
                                                  "csrf_token": _csrf(form.text)})
    assert r.status_code == 200 and "Exception queue" in r.text, r.text  # followed the 303
    return _csrf(r.text)


def _raise(api: Api, no: str, code: str = "damaged") -> str:
    r = api.client.post("/v1/exceptions", json={"tracking_no": no, "code": code},
                        headers=api.auth("cs_agent"))
    assert r.status_code == 201, r.text
    api.catch_up("exceptions")
    return r.json()["exception_id"]


@pytest.fixture
def console(make_service, postgres_url) -> Iterator[Api]:
    # A one-second idle limit, so the expiry test need not wait half an hour.
    yield from make_api(make_service(postgres_url), postgres_url, console_session_idle=1.0)


def test_signing_in_sets_a_strict_httponly_session_cookie_and_never_keeps_the_token(console):
    api = console
    form = api.client.get("/console/sign-in")
    assert 'for="token">Staff token<' in form.text and ">Sign in</button>" in form.text
    issued = api.key("emp-a", Kind.STAFF, role=Role.CS_AGENT)
    r = api.client.post("/console/sign-in", data={"token": issued.token,
                                                  "csrf_token": _csrf(form.text)},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/queue"
    [cookie] = [c for c in r.headers.get_list("set-cookie") if c.startswith("pf_console=")]
    attributes = {a.strip().lower() for a in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/console"} <= attributes
    assert "secure" not in attributes  # plain http here; https sets it
    assert issued.token.split("_", 2)[2] not in cookie and issued.token not in cookie
    assert api.client.get("/console/queue").status_code == 200


def test_a_wrong_token_or_a_scanner_key_does_not_sign_in(console):
    api = console
    form = api.client.get("/console/sign-in")
    r = api.client.post("/console/sign-in", data={"token": "pf_nope_nope",
                                                  "csrf_token": _csrf(form.text)})
    assert r.status_code == 401 and "unknown key" in r.text
    assert "pf_nope_nope" not in r.text
    scanner = api.key("scanner-x", Kind.SCANNER, facility="SZX-HUB-01")
    r = api.client.post("/console/sign-in", data={"token": scanner.token,
                                                  "csrf_token": _csrf(r.text)})
    assert r.status_code == 403 and "scanner key cannot" in r.text
    assert api.client.get("/console/queue", follow_redirects=False).headers["location"] \
        == "/console/sign-in"


def test_sign_in_and_every_action_refuse_a_form_without_the_csrf_token(console):
    api = console
    issued = api.key("emp-a", Kind.STAFF, role=Role.CS_AGENT)
    api.client.get("/console/sign-in")
    assert api.client.post("/console/sign-in", data={"token": issued.token}).status_code == 403
    no = _parcel(api, 1)
    exc = _raise(api, no)
    csrf = sign_in(api, "cs_agent")
    url = f"/console/exceptions/{no}/{exc}/acknowledge"
    assert api.client.post(url, data={}).status_code == 403
    assert api.client.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert api.client.post("/console/sign-out", data={}).status_code == 403
    assert api.service.get(no).exceptions[exc].acknowledged_at is None
    r = api.client.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert api.service.get(no).exceptions[exc].acknowledged_by == "staff:emp-cs_agent"


def test_signing_out_ends_the_session_even_for_a_copied_cookie(console):
    api = console
    csrf = sign_in(api, "cs_agent")
    copied = api.client.cookies.get("pf_console")
    r = api.client.post("/console/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/console/sign-in"
    api.client.cookies.set("pf_console", copied, path="/console")
    assert api.client.get("/console/queue", follow_redirects=False).status_code == 303


def test_a_session_expires_after_inactivity_and_with_a_revoked_token(console):
    api = console
    sign_in(api, "cs_agent")
    assert api.client.get("/console/queue", follow_redirects=False).status_code == 200
    time.sleep(1.3)
    assert api.client.get("/console/queue", follow_redirects=False).status_code == 303
    sign_in(api, "supervisor")
    api.keys.revoke(api.issued["emp-supervisor"].credential.key_id)
    assert api.client.get("/console/queue", follow_redirects=False).status_code == 303


def test_an_htmx_refresh_after_expiry_sends_the_browser_to_sign_in(console):
    api = console
    sign_in(api, "cs_agent")
    api.client.cookies.clear()
    r = api.client.get("/console/queue/rows", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/console/sign-in"


def test_the_queue_shows_clocks_in_words_filters_and_counts(console, clock):
    api = console
    first, second = _parcel(api, 1), _parcel(api, 2)
    damaged = _raise(api, first, "damaged")
    _raise(api, second, "address_issue")
    sign_in(api, "auditor")
    page = api.client.get("/console/queue").text
    assert page.count("/console/exceptions/") == 2
    assert "2 open in all" in page and re.search(r"due in \d+ (min|h)", page)
    only = api.client.get("/console/queue", params={"code": "damaged"}).text
    assert f"/console/exceptions/{first}/{damaged}" in only and second not in only
    clock.advance(days=3)  # every first-response clock has run out
    late = api.client.get("/console/queue/rows").text
    assert re.search(r'class="clock clock-breached">breached \d+ (h|d) ago', late)
    assert api.client.get("/console/queue", params={"overdue": "true"}).text.count(
        "/console/exceptions/") == 2
    r = api.client.get("/console/queue", params={"code": "<b>nope</b>"})
    assert r.status_code == 422 and "code: not one of" in r.text and "<b>nope" not in r.text


def test_my_exceptions_are_those_i_own(console):
    api = console
    first, second = _parcel(api, 1), _parcel(api, 2)
    mine, _ = _raise(api, first), _raise(api, second)
    csrf = sign_in(api, "cs_agent")
    api.client.post(f"/console/exceptions/{first}/{mine}/acknowledge", data={"csrf_token": csrf})
    api.catch_up("exceptions")
    page = api.client.get("/console/queue", params={"mine": "true"}).text
    assert page.count("/console/exceptions/") == 1 and mine in page
    by_name = api.client.get("/console/queue", params={"assignee": "emp-cs_agent"}).text
    assert by_name.count("/console/exceptions/") == 1 and mine in by_name


def test_an_agent_works_an_exception_and_the_api_shows_each_event(console):
    api = console
    no = _parcel(api, 1)
    exc = _raise(api, no)
    csrf = sign_in(api, "cs_agent")
    base = f"/console/exceptions/{no}/{exc}"
    page = api.client.get(base).text
    for label in ("Acknowledge", "Record contact", "Hand over", "Escalate", "Resolve"):
        assert f">{label}</button>" in page
    assert api.client.post(f"{base}/acknowledge", data={"csrf_token": csrf}).status_code == 200
    r = api.client.post(f"{base}/contact", data={"csrf_token": csrf, "channel": "phone",
                                                 "summary": "called Ms Wang on 13812345678"})
    assert r.status_code == 200 and "Done: Record contact." in r.text
    assert "13812345678" not in r.text and "Wang" not in r.text  # sealed, shown masked
    r = api.client.post(f"{base}/resolve", data={"csrf_token": csrf, "outcome": "redelivered"})
    assert "Done: Resolve." in r.text and ">Reopen</button>" in r.text
    history = api.client.get(f"/v1/parcels/{no}/history", headers=api.auth("auditor")).json()
    steps = [(e["type"], e["operator_id"]) for e in history["events"]
             if e["details"].get("exception_id") == exc]
    assert steps[1:] == [("exception_acknowledged", "staff:emp-cs_agent"),
                         ("customer_contacted", "staff:emp-cs_agent"),
                         ("exception_resolved", "staff:emp-cs_agent"),
                         # the resolution of a customer-facing exception makes its
                         # follow-up call due (issue 14), the system's own step
                         ("follow_up_due", None)]


def test_an_agent_puts_an_exception_on_hold_and_resumes_it_from_the_console(console):
    """The console's await/resume forms are the API's own actions (issue 14): while the
    exception waits its clocks stand still and the queue says since when."""
    api = console
    no = _parcel(api, 1)
    exc = _raise(api, no)
    csrf = sign_in(api, "cs_agent")
    base = f"/console/exceptions/{no}/{exc}"
    assert api.client.post(f"{base}/acknowledge", data={"csrf_token": csrf}).status_code == 200
    r = api.client.post(f"{base}/await", data={"csrf_token": csrf, "on": "customer",
                                               "reason": "asked for a photo"})
    assert r.status_code == 200 and "Done: Wait for an answer." in r.text
    assert "clocks stand still: awaiting customer" in r.text and ">Answer came</button>" in r.text
    assert _queued(api, exc)[:2] == ("awaiting_customer", None)  # no due time while waiting
    assert _queued(api, exc)[2] is not None
    r = api.client.post(f"{base}/resume", data={"csrf_token": csrf, "note": "photo came"})
    assert r.status_code == 200 and "Done: Answer came." in r.text
    assert "clocks stand still: " not in r.text and ">Wait for an answer</button>" in r.text
    status, due, since = _queued(api, exc)
    assert (status, since) == ("acknowledged", None) and due is not None


def _queued(api: Api, exc: str) -> tuple[str, str | None, str | None]:
    api.catch_up("exceptions")
    [row] = [q for q in api.client.get("/v1/exceptions", headers=api.auth("cs_agent"))
             .json()["exceptions"] if q["exception_id"] == exc]
    return row["status"], row["resolution_due"], row["waiting_since"]


def test_refusals_are_the_workflows_own_words_and_change_nothing(console):
    api = console
    no = _parcel(api, 1)
    exc = _raise(api, no)
    base = f"/console/exceptions/{no}/{exc}"
    csrf = sign_in(api, "cs_agent")
    api.client.post(f"{base}/acknowledge", data={"csrf_token": csrf})
    r = api.client.post(f"{base}/acknowledge", data={"csrf_token": csrf})
    assert r.status_code == 409 and "already acknowledged" in r.text
    r = api.client.post(f"{base}/resolve", data={"csrf_token": csrf, "outcome": "compensated"})
    assert r.status_code == 403 and "needs a supervisor" in r.text
    r = api.client.post(f"{base}/hand-over", data={"csrf_token": csrf})
    assert r.status_code == 422 and "to_agent, to_team" in r.text
    csrf = sign_in(api, "supervisor")
    r = api.client.post(f"{base}/resolve", data={"csrf_token": csrf, "outcome": "compensated"})
    assert r.status_code == 409 and "assigned to" in r.text
    assert api.service.get(no).exceptions[exc].status == "acknowledged"


def test_an_auditor_reads_but_cannot_act(console):
    api = console
    no = _parcel(api, 1)
    exc = _raise(api, no)
    csrf = sign_in(api, "auditor")
    page = api.client.get(f"/console/exceptions/{no}/{exc}").text
    assert ">Acknowledge</button>" not in page and "does not work exceptions" in page
    r = api.client.post(f"/console/exceptions/{no}/{exc}/acknowledge", data={"csrf_token": csrf})
    assert r.status_code == 403 and "needed: cs_agent, supervisor" in r.text
    assert api.service.get(no).exceptions[exc].acknowledged_at is None


def test_complaints_file_and_close_on_their_clock(console):
    api = console
    no = _parcel(api, 1)
    csrf = sign_in(api, "cs_agent")
    r = api.client.post("/console/complaints", data={
        "csrf_token": csrf, "tracking_no": no, "category": "delay", "channel": "phone",
        "words": "Mr Li at 13912345678 is upset"})
    assert r.status_code == 200 and "Done: filed." in r.text
    api.catch_up("cases")
    page = api.client.get("/console/complaints").text
    assert no in page and re.search(r"due in \d+ (h|d)", page)  # the 7-day complaint clock
    assert "13912345678" not in page and "Mr Li" not in page
    [complaint] = api.service.get(no).complaints.values()
    r = api.client.post(f"/console/complaints/{no}/{complaint.complaint_id}/close",
                        data={"csrf_token": csrf, "outcome": "no_fault",
                              "customer_confirmed": "true"})
    assert r.status_code == 200
    assert str(api.service.get(no).complaints[complaint.complaint_id].status) == "closed"
    r = api.client.post("/console/complaints", data={"csrf_token": csrf, "tracking_no": no,
                                                     "category": "nonsense", "channel": "phone"})
    assert r.status_code == 422 and "category:" in r.text and "nonsense" not in r.text


def test_only_a_supervisor_approves_and_pays_a_claim(console):
    api = console
    no = _parcel(api, 1)
    _raise(api, no, "damaged")
    csrf = sign_in(api, "cs_agent")
    r = api.client.post("/console/claims", data={
        "csrf_token": csrf, "tracking_no": no, "cause": "damaged", "claimed": "120.00",
        "evidence": "photo-1"})
    assert "Done: filed." in r.text, r.text
    [claim] = api.service.get(no).claims.values()
    base = f"/console/claims/{no}/{claim.claim_id}"
    assert api.client.post(f"{base}/assess", data={"csrf_token": csrf}).status_code == 200
    r = api.client.post(f"{base}/approve", data={"csrf_token": csrf})
    assert r.status_code == 403 and "needed: supervisor" in r.text
    assert str(api.service.get(no).claims[claim.claim_id].status) == "assessed"
    csrf = sign_in(api, "supervisor")
    assert api.client.post(f"{base}/approve", data={"csrf_token": csrf}).status_code == 200
    assert api.client.post(f"{base}/pay", data={"csrf_token": csrf,
                                                "payment_ref": "PAY-1"}).status_code == 200
    api.catch_up("cases")
    page = api.client.get("/console/claims", params={"status": "paid"}).text
    assert no in page and ">paid<" in page
    assert str(api.service.get(no).claims[claim.claim_id].status) == "paid"


def test_the_statistics_are_the_stats_reports_own_figures(console, clock):
    api = console
    for n in range(1, 4):
        _parcel(api, n, scans=6)
    api.catch_up("stats", "cases")
    sign_in(api, "auditor")
    page = api.client.get("/console/stats").text
    # Five from the daily statistics, and the service KPIs' CSAT and SLA per day.
    assert page.count('<figure class="chart"') == 7 and "On-time delivery rate" in page
    assert "CSAT (ratings of 4-5) per day" in page and "SLA hit rate per day" in page
    days = re.findall(r'<option value="(\d{4}-\d\d-\d\d)"', page)
    assert len(days) == 14
    from parcelflow.projections.registry import open_view

    for day in days:
        report = open_view(api.service, "stats").report(day)
        if report["facilities"]:
            break
    else:
        pytest.fail("the journeys left no statistics in the last 14 days")
    table = api.client.get("/console/stats", params={"day": day}).text
    for name, row in report["facilities"].items():
        assert re.search(rf'<th scope="row">{name}</th><td>{row["scans"]}</td>'
                         rf'<td>{row["parcels"]}</td>', table)
    assert api.client.get("/console/stats", params={"day": "yesterday"}).status_code == 422


def test_an_auditor_sees_a_tampered_parcel_flagged_and_others_intact(console, postgres_url):
    from parcelflow.domain.ids import parcel_id
    from tests.support.tamper import tamper

    api = console
    good, bad = _parcel(api, 1), _parcel(api, 2)
    tamper(postgres_url, parcel_id(bad), 3, "SZX-HUB-01", "SZX-HUB-09")
    sign_in(api, "auditor")
    ok = api.client.get("/console/audit", params={"tracking_no": good}).text
    assert "Intact" in ok and "Tampered" not in ok
    flagged = api.client.get("/console/audit", params={"tracking_no": bad}).text
    assert "Tampered: the chain is broken</strong> at event 3" in flagged
    sign_in(api, "cs_agent")
    assert api.client.get("/console/audit", params={"tracking_no": bad}).status_code == 403


def test_the_team_filter_finds_an_exception_handed_to_any_team(console):
    api = console
    first, second = _parcel(api, 1), _parcel(api, 2)
    handed, other = _raise(api, first), _raise(api, second)
    csrf = sign_in(api, "cs_agent")
    base = f"/console/exceptions/{first}/{handed}"
    api.client.post(f"{base}/acknowledge", data={"csrf_token": csrf})
    r = api.client.post(f"{base}/hand-over", data={"csrf_token": csrf, "to_team": "claims_team"})
    assert "Done: Hand over." in r.text and "claims_team" in r.text
    api.catch_up("exceptions")
    page = api.client.get("/console/queue", params={"team": "claims_team"}).text
    assert handed in page and other not in page
    r = api.client.get("/console/queue", params={"team": "Claims Team!"})
    assert r.status_code == 422 and "team:" in r.text
