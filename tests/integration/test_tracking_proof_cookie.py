"""The tracking page's remembered proof: for that parcel only, for a short while, ours
only; and a complaint needs it (and the form's own token)."""

from __future__ import annotations

import re
import time

from parcelflow.domain.vocabulary import ComplaintCategory
from tests.support.api import make_api
from tests.support.builders import journey, manifest, recent_start, tracking


def _seeded(api) -> None:
    api.service.register([manifest(1), manifest(2)])
    api.service.ingest([s for n in (1, 2) for s in journey(n, t0=recent_start())[:3]])
    api.catch_up("tracking")


def _proven(page: str) -> bool:
    return 'id="timeline"' in page


def test_the_proof_opens_one_parcel_for_its_lifetime_and_a_forged_cookie_nothing(
        make_service, postgres_url):
    svc = make_service(postgres_url)
    for api in make_api(svc, postgres_url, web_proof_lifetime="PT2S"):
        _seeded(api)
        c = api.client
        r = c.post(f"/track/{tracking(1)}/proof", data={"phone_last4": "4321"},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/track/{tracking(1)}#timeline"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/track" in cookie
        assert "Max-Age" not in cookie and "expires" not in cookie.lower()  # a session cookie
        assert _proven(c.get(f"/track/{tracking(1)}").text)
        assert not _proven(c.get(f"/track/{tracking(2)}").text)  # that parcel only
        value = c.cookies["pf_proof"]
        c.cookies.clear()

        def with_cookie(cookie: str) -> str:
            return c.get(f"/track/{tracking(1)}", headers={"Cookie": f"pf_proof={cookie}"}).text

        assert _proven(with_cookie(value))
        forged = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
        assert not _proven(with_cookie(forged))  # not signed by us
        time.sleep(2.2)
        assert not _proven(with_cookie(value))  # run out


def test_a_complaint_needs_the_proof_and_the_pages_own_token(make_service, postgres_url):
    svc = make_service(postgres_url)
    for api in make_api(svc, postgres_url):
        _seeded(api)
        c = api.client
        form = {"category": str(ComplaintCategory.DELAY), "words": "late", "token": "x"}
        r = c.post(f"/track/{tracking(1)}/complaints", data=form, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("#proof")
        c.post(f"/track/{tracking(1)}/proof", data={"phone_last4": "5678"})  # the sender's
        r = c.post(f"/track/{tracking(1)}/complaints", data=form, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("#proof")  # bad token
        assert not svc.get(tracking(1)).complaints
        page = c.get(f"/track/{tracking(1)}").text
        token = re.search(r'name="token" value="([^"]+)"', page).group(1)
        ref = re.search(r'name="ref" value="([^"]+)"', page).group(1)
        for _ in range(2):  # the same form sent twice files once
            r = c.post(f"/track/{tracking(1)}/complaints", follow_redirects=False,
                       data={**form, "token": token, "ref": ref})
            assert r.status_code == 303 and r.headers["location"].endswith("?filed=1#complaints")
        assert len(svc.get(tracking(1)).complaints) == 1
        r = c.post(f"/track/{tracking(1)}/complaints", data={**form, "token": token,
                                                              "category": "nonsense"})
        assert r.status_code == 422 and "请选择投诉类型。" in r.text  # no Accept-Language: 中文
        assert len(svc.get(tracking(1)).complaints) == 1
