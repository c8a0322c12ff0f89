"""Property: over generated parcels and people, no phone number, full name, street or
email appears in any public response or any log line."""

from __future__ import annotations

import itertools
from collections import defaultdict
from importlib.resources import files

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelflow.domain.privacy import SIGNATURE_ROLES
from tests.support.api import make_api
from tests.support.builders import journey, manifest, tracking

_numbers = itertools.count(1000)

cjk_names = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
                    min_size=2, max_size=4)
word = st.from_regex(r"[A-Z][a-z]{2,9}", fullmatch=True)
latin_names = st.builds(lambda a, b: f"{a} {b}", word, word)
# A role word ("家人", family) is what a courier writes instead of a name, and is shown
# as it is; nobody is named that, so a generated name never is one.
# Place words are public: a name that is also part of a city, district or facility name
# (hypothesis draws strings from the source, such as 浦东 of 上海市浦东新区) cannot be told
# apart from the place the answer rightly names, so it proves nothing either way.
PUBLIC_PLACES = (files("parcelflow") / "data" / "network.json").read_text(encoding="utf-8") \
    + "上海市浦东新区" + "广东省深圳市南山区"
names = st.one_of(cjk_names, latin_names).filter(
    lambda n: n.lower() not in SIGNATURE_ROLES and n not in PUBLIC_PLACES)
phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
streets = st.builds(lambda road, no: f"{road}路{no}号",
                    st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
                            min_size=2, max_size=4), st.integers(1, 999))
emails = st.from_regex(r"[a-z]{4,10}\.[a-z]{3,8}@example\.com", fullmatch=True)


@st.composite
def people(draw):
    receiver = {"name": draw(names), "phone": draw(phones),
                "address": "上海市浦东新区" + draw(streets), "email": draw(emails)}
    sender = {"name": draw(names), "phone": draw(phones),
              "address": "广东省深圳市南山区" + draw(streets)}
    signer = draw(st.sampled_from(["receiver", "recipient", "front_desk"]))
    return receiver, sender, signer


def _secrets(receiver: dict, sender: dict) -> list[str]:
    return [receiver["name"], receiver["phone"], receiver["email"], sender["name"],
            sender["phone"], receiver["address"].removeprefix("上海市浦东新区"),
            sender["address"].removeprefix("广东省深圳市南山区")]


@pytest.fixture
def api(make_service, postgres_url):
    """The API with lookup and proof limits out of the way: this test is about what
    answers say. (With the proof limits in place, a failing example's shrinking, one
    wrong proof a run, ended in 429s that hid the failure itself.)"""
    yield from make_api(make_service(postgres_url), postgres_url,
                        api_lookup_limit_per_address="100000/minute",
                        api_lookup_limit_per_parcel="100000/minute",
                        api_proof_failure_limit="100000/hour",
                        api_proof_failure_limit_per_address="100000/hour")


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(who=people())
def test_no_personal_data_in_public_answers_or_logs(api, who):
    receiver, sender, signer = who
    n = next(_numbers)
    no = tracking(n)
    logs_from = len(api.logs.getvalue())
    answers = []

    r = api.client.post("/v1/parcels", json=manifest(n, receiver={**receiver, "language": "zh-CN"},
                                                     sender=sender), headers=api.auth("orders"))
    assert r.json()["accepted"] == 1, r.text
    answers.append(r.text)
    trip = journey(n)
    trip[-1]["signed_by"] = receiver["name"] if signer == "receiver" else signer
    by_facility = defaultdict(list)
    for item in trip:
        by_facility[item["facility"]].append(item)
    for facility, items in by_facility.items():
        r = api.client.post("/v1/scans", json=items, headers=api.auth(facility))
        assert r.json()["accepted"] == len(items), r.text
        answers.append(r.text)
    api.catch_up("tracking")

    coarse = api.client.get(f"/v1/parcels/{no}")
    full = api.client.get(f"/v1/parcels/{no}", params={"phone_last4": receiver["phone"][-4:]})
    by_sender = api.client.get(f"/v1/parcels/{no}", params={"phone_last4": sender["phone"][-4:]})
    wrong_digits = "0000" if receiver["phone"][-4:] != "0000" and sender["phone"][-4:] != "0000" \
        else "1111"
    wrong = api.client.get(f"/v1/parcels/{no}", params={"phone_last4": wrong_digits})
    assert (coarse.json()["detail"], full.json()["detail"], by_sender.json()["detail"],
            wrong.status_code) == ("coarse", "full", "full", 404)
    assert full.json()["delivered"]["signed_by"] != receiver["name"]
    answers += [coarse.text, full.text, by_sender.text, wrong.text]

    logs = api.logs.getvalue()[logs_from:]
    assert "http.request" in logs  # the log was captured
    for secret in _secrets(receiver, sender):
        for answer in answers:
            assert secret not in answer
        assert secret not in logs
    assert "phone_last4" not in logs  # the query (the proof) is never logged
