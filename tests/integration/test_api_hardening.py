"""What hostile and careless clients found over HTTP, on PostgreSQL: each a clear 4xx or a
per-item rejection now, never a 500 or a lost neighbour, and never the value sent."""

from __future__ import annotations

import time
import uuid

import orjson
from openapi_spec_validator import validate

from parcelflow.adapters.credentials import Kind, Role
from parcelflow.bootstrap import build_service
from parcelflow.settings import Settings
from tests.support.api import is_problem, make_api
from tests.support.builders import journey, manifest, tracking
from tests.support.redis_server import REDIS_URL, redis_required

RECEIVER_LAST4 = "4321"  # builders' 13987654321


def test_timestamps_that_overflow_or_lie_outside_the_window_are_refused_per_item(api):
    batch = [manifest(1, promised_by="9999-12-31T23:59:59-23:59"),
             manifest(2, promised_by="0001-01-01T00:00:00+23:59"),
             manifest(3, promised_by="1970-01-01T00:00:00Z"),
             manifest(4, promised_by="1796107516"),  # a number in a string: not a time
             manifest(5)]
    r = api.client.post("/v1/parcels", json=batch, headers=api.auth("orders"))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["rejected"] * 4 + ["accepted"]
    for x in results[:3]:
        assert x["reason"] == "promised_by: the year must be from 2000 to 2099"
    assert "ISO 8601 timestamp string" in results[3]["reason"]
    assert api.service.get(tracking(5)).manifest is not None

    scans = [{**journey(6)[0], "occurred_at": "1796107516000"}, journey(5)[0]]
    r = api.client.post("/v1/scans", json=scans, headers=api.auth("SZX-OUT-07"))
    assert [x["status"] for x in r.json()["results"]] == ["rejected", "accepted"]


def test_query_timestamps_follow_the_same_rule(api):
    for bad in ("9999-12-31T23:59:59-23:59", "0.5", "1796107516"):
        r = api.client.get("/v1/exceptions", params={"overdue_at": bad},
                           headers=api.auth("cs_agent"))
        [error] = is_problem(r, 422)["errors"]
        assert error["field"] == "query.overdue_at" and bad not in r.text
    r = api.client.get("/v1/exceptions", params={"overdue_at": "2026-11-22T08:00:00+08:00"},
                       headers=api.auth("cs_agent"))
    assert r.status_code == 200


def test_control_characters_in_any_query_parameter_are_a_400(api):
    r = api.client.get("/v1/exceptions?assignee=a%00b", headers=api.auth("cs_agent"))
    body = is_problem(r, 400)
    assert body["errors"] == [{"field": "query.assignee",
                               "reason": "must not contain control characters"}]
    r = api.client.get(f"/v1/parcels/{tracking(1)}?phone_last4=12%0034")
    assert is_problem(r, 400)["errors"][0]["field"] == "query.phone_last4"
    r = api.client.get(f"/v1/parcels/{tracking(1)}?x=%ff")  # not UTF-8
    assert "UTF-8" in is_problem(r, 400)["errors"][0]["reason"]


def test_a_query_value_without_a_parameter_name_is_a_400_not_the_whole_queue(api):
    r = api.client.get("/v1/exceptions?=0", headers=api.auth("cs_agent"))
    assert is_problem(r, 400)["errors"] == [{"field": "query",
                                             "reason": "every parameter must have a name"}]


def test_a_malformed_signature_timestamp_is_a_401_not_a_500(api):
    issued = api.key("signer", Kind.SCANNER, facility="SZX-OUT-07")
    for stamp in ("١٧٩٦١٠٧٥١٦", "9" * 5000, "-5", ""):  # Arabic-Indic digits, 5,000 digits
        r = api.client.post("/v1/scans", content=b"[]", headers={
            "Authorization": f"Bearer {issued.token}", "Content-Type": "application/json",
            "X-Parcelflow-Timestamp": stamp.encode(),
            "X-Parcelflow-Signature": "v1=" + "0" * 64})
        is_problem(r, 401)


def test_money_is_bounded_at_the_wire_and_claims_can_be_assessed(api):
    huge = manifest(1, declared_value="1E+400000", insured=True)
    r = api.client.post("/v1/parcels", json=[huge, manifest(2, declared_value="999999999999.99",
                                                            insured=True)],
                        headers=api.auth("orders"))
    results = r.json()["results"]
    assert results[0]["status"] == "rejected"
    assert "declared_value: must be a decimal string" in results[0]["reason"]
    assert results[1]["status"] == "accepted"


def test_unknown_cities_are_refused_and_the_rest_registered(api):
    r = api.client.post("/v1/parcels", json=[manifest(1, origin="XYZ"),
                                             manifest(2, destination="ABC"), manifest(3)],
                        headers=api.auth("orders"))
    results = r.json()["results"]
    assert results[0]["reason"].startswith("origin: not a city of the network")
    assert results[1]["reason"].startswith("destination: not a city of the network")
    assert results[2]["status"] == "accepted"


def test_a_reason_never_repeats_the_value_and_answers_stay_small(api):
    bad = {**journey(1)[0], "operator_id": "13812345678 张三", "13987654321 李华": 1}
    r = api.client.post("/v1/scans", json=[bad, journey(2)[0]], headers=api.auth("SZX-OUT-07"))
    assert "13812345678" not in r.text and "张三" not in r.text
    assert "13987654321" not in r.text and "李华" not in r.text
    assert [x["status"] for x in r.json()["results"]] == ["rejected", "accepted"]

    many = {**journey(3)[0], **{f"x{n:05d}": n for n in range(5000)}}
    body = orjson.dumps([many])
    r = api.client.post("/v1/scans", content=body, headers={
        **api.auth("SZX-OUT-07"), "Content-Type": "application/json"})
    assert r.status_code == 200 and len(r.content) < 1000, (len(body), len(r.content))

    # The same on routes whose bodies FastAPI validates: field names are not echoed.
    r = api.client.post("/v1/exceptions", json={"tracking_no": tracking(2), "code": "damaged",
                                                "13812345678": 1,
                                                **{f"f{n}": n for n in range(5000)}},
                        headers=api.auth("cs_agent"))
    problem = is_problem(r, 422)
    assert "13812345678" not in r.text and len(r.content) < 2000
    assert len(problem["errors"]) <= 21


def test_a_wrong_guess_locks_out_only_the_guesser(make_service, postgres_url):
    svc = make_service(postgres_url)
    for api in make_api(svc, postgres_url, api_proof_failure_limit="3/hour",
                        api_proof_failure_limit_per_address="5/hour"):
        api.client.post("/v1/parcels", json=[manifest(1), manifest(2), manifest(3)],
                        headers=api.auth("orders"))
        api.catch_up("tracking")
        guesser = api.client.__class__(api.client.app, client=("198.51.100.66", 1))
        for last4 in ("0000", "1111", "2222"):
            is_problem(guesser.get(f"/v1/parcels/{tracking(1)}",
                                   params={"phone_last4": last4}), 404)
        is_problem(guesser.get(f"/v1/parcels/{tracking(1)}",
                               params={"phone_last4": RECEIVER_LAST4}), 429)
        # The receiver, from their own address, is not refused by the guesser's tries.
        receiver = api.client.__class__(api.client.app, client=("203.0.113.99", 1))
        r = receiver.get(f"/v1/parcels/{tracking(1)}", params={"phone_last4": RECEIVER_LAST4})
        assert r.status_code == 200 and r.json()["detail"] == "full"
        # The guesser moving on to other parcels is stopped by its per-address count.
        for last4 in ("0000", "1111"):
            is_problem(guesser.get(f"/v1/parcels/{tracking(2)}",
                                   params={"phone_last4": last4}), 404)
        is_problem(guesser.get(f"/v1/parcels/{tracking(3)}",
                               params={"phone_last4": RECEIVER_LAST4}), 429)


def test_a_wrong_proof_costs_the_same_work_as_an_unknown_number(api):
    api.client.post("/v1/parcels", json=[manifest(1), manifest(2)], headers=api.auth("orders"))
    api.catch_up("tracking")
    opened: list[str] = []
    real_get = api.service.get
    api.service.get = lambda no: (opened.append(no), real_get(no))[1]  # type: ignore[method-assign]
    try:
        asked = [tracking(1), tracking(88), tracking(2), tracking(89)]
        for no in asked:  # first proofs: one parcel opened each, known or not
            is_problem(api.client.get(f"/v1/parcels/{no}", params={"phone_last4": "0000"}), 404)
        assert len(opened) == 4
        assert set(opened) == {tracking(1), tracking(2)}  # unknown ones open a real decoy
        for no in asked:  # again: from memory for both
            is_problem(api.client.get(f"/v1/parcels/{no}", params={"phone_last4": "0000"}), 404)
        assert len(opened) == 4
    finally:
        api.service.get = real_get  # type: ignore[method-assign]


def test_staff_tokens_expire_and_keys_rotate(api):
    short = api.keys.create(Kind.STAFF, "emp-7", role=Role.CS_AGENT,
                            lifetime=__import__("datetime").timedelta(seconds=1))
    headers = {"Authorization": f"Bearer {short.token}"}
    assert api.client.get("/v1/exceptions", headers=headers).status_code == 200
    time.sleep(1.1)
    assert "expired" in is_problem(api.client.get("/v1/exceptions", headers=headers),
                                   401)["detail"]
    default = api.keys.create(Kind.STAFF, "emp-8", role=Role.CS_AGENT)
    hours = (default.credential.expires_at - default.credential.created_at) / 3600
    assert hours == 12
    scanner = api.keys.create(Kind.SCANNER, "scanner-1", facility="SZX-OUT-07")
    assert scanner.credential.expires_at is None  # machines' keys: until revoked
    new = api.keys.rotate(scanner.credential.key_id)
    assert new.credential.facility == "SZX-OUT-07"
    old_headers = {"Authorization": f"Bearer {scanner.token}"}
    assert "revoked" in is_problem(api.client.post("/v1/scans", json=[], headers=old_headers),
                                   401)["detail"]
    r = api.client.post("/v1/scans", json=[],
                        headers={"Authorization": f"Bearer {new.token}"})
    assert r.status_code == 200


def test_operations_routes_are_cached_and_limited(make_service, postgres_url):
    svc = make_service(postgres_url)
    for api in make_api(svc, postgres_url, api_ops_cache_seconds=30,
                        api_ops_limit_per_address="5/minute"):
        reads: list[int] = []
        real = svc.recorder.max_notification_id
        svc.recorder.max_notification_id = lambda: (reads.append(1), real())[1]  # type: ignore[method-assign]
        assert api.client.get("/readyz").status_code == 200
        once = len(reads)
        assert once >= 1
        for path in ("/metrics", "/readyz", "/metrics"):
            assert api.client.get(path).status_code == 200
        assert len(reads) == once  # read once for four requests
        assert api.client.get("/openapi.json").status_code == 200
        r = api.client.get("/readyz")
        assert int(is_problem(r, 429) and r.headers["Retry-After"]) >= 1
        assert api.client.get("/healthz").status_code == 200  # liveness is never limited


def test_a_405_names_every_method_of_the_path(api):
    r = api.client.put("/v1/exceptions", headers=api.auth("cs_agent"))
    is_problem(r, 405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    r = api.client.delete(f"/v1/parcels/{tracking(1)}")
    assert set(is_problem(r, 405) and r.headers["Allow"].split(", ")) == {"GET"}


def test_the_openapi_document_is_valid_and_documents_what_clients_need(api):
    doc = api.client.get("/openapi.json").json()
    validate(doc)  # openapi-spec-validator: raises on an invalid document
    assert doc["servers"]
    lookup = doc["paths"]["/v1/parcels/{tracking_no}"]["get"]
    assert lookup["security"] == [] and doc["paths"]["/healthz"]["get"]["security"] == []
    assert "Retry-After" in lookup["responses"]["429"]["headers"]
    scans = doc["paths"]["/v1/scans"]["post"]
    names = {p["name"] for p in scans["parameters"]}
    assert {"X-Parcelflow-Timestamp", "X-Parcelflow-Signature", "Idempotency-Key",
            "X-Request-Id"} <= names
    assert {"X-Parcelflow-Position", "Idempotent-Replayed", "X-Request-Id"} <= set(
        scans["responses"]["200"]["headers"])
    assert scans["security"] == [{"bearer": []}]


def test_configured_tracking_number_formats_reach_paths_bodies_and_the_document(postgres_url):
    formats = ["^[A-Z]{2}[0-9]{15}$", "s10"]
    settings = Settings(_env_file=None, database_url=postgres_url,  # type: ignore[call-arg]
                        tracking_number_patterns=formats)
    svc = build_service(settings)
    for api in make_api(svc, postgres_url, tracking_number_patterns=formats):
        s10 = "RR123456785CN"
        r = api.client.post("/v1/parcels", json=[manifest(1, tracking_no=s10),
                                                 manifest(2, tracking_no="RR123456784CN")],
                            headers=api.auth("orders"))
        assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]
        assert "check digit" in r.json()["results"][1]["reason"]
        api.catch_up("tracking")
        assert api.client.get(f"/v1/parcels/{s10}").json()["status"] == "registered"
        r = api.client.get("/v1/parcels/RR123456784CN")
        assert "check digit" in is_problem(r, 422)["errors"][0]["reason"]
        r = api.client.post("/v1/exceptions", json={"tracking_no": s10, "code": "damaged"},
                            headers=api.auth("cs_agent"))
        assert r.status_code == 201, r.text
        doc = api.client.get("/openapi.json").json()
        pattern = doc["components"]["schemas"]["ScanV1"]["properties"]["tracking_no"]["pattern"]
        assert pattern == "(?:^[A-Z]{2}[0-9]{15}$)|(?:^[A-Z]{2}[0-9]{9}[A-Z]{2}$)"
    svc.close()


def test_rate_limits_are_shared_between_api_processes_through_redis(make_service, postgres_url):
    redis_required()
    prefix = f"parcelflow-test-{uuid.uuid4().hex[:8]}"
    shared = {"rate_limit_storage": REDIS_URL, "rate_limit_prefix": prefix,
              "api_lookup_limit_per_address": "3/minute"}
    svc = make_service(postgres_url)
    for first in make_api(svc, postgres_url, **shared):
        for second in make_api(svc, postgres_url, **shared):  # another process's counters
            assert first.client.get(f"/v1/parcels/{tracking(1)}").status_code == 404
            assert second.client.get(f"/v1/parcels/{tracking(2)}").status_code == 404
            assert first.client.get(f"/v1/parcels/{tracking(3)}").status_code == 404
            is_problem(second.client.get(f"/v1/parcels/{tracking(4)}"), 429)
            started = [line for line in second.log_lines() if line["event"] == "api.rate_limits"]
            assert started and started[-1]["storage"] == f"{REDIS_URL} (shared)"
    for alone in make_api(svc, postgres_url, api_lookup_limit_per_address="3/minute"):
        started = [line for line in alone.log_lines() if line["event"] == "api.rate_limits"]
        assert started[-1]["storage"] == "memory:// (in this process only)"
