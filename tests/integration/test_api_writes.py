"""POST /v1/scans and /v1/parcels on PostgreSQL: per-item results, scope, idempotency,
limits, and who may post."""

from __future__ import annotations

import time

import orjson

from parcelflow.api.auth import sign
from parcelflow.adapters.credentials import Kind
from tests.support.api import is_problem, make_api
from tests.support.builders import journey, manifest, scan, tracking


def test_a_batch_answers_per_item_and_keeps_the_valid_ones(api):
    api.client.post("/v1/parcels", json=[manifest(1)], headers=api.auth("orders"))
    trip = journey(1)
    batch = [trip[0], {**trip[1], "colour": "red"}, trip[1], trip[0],
             scan("arrival", "SZX-HUB-01", 2, 1)]  # another facility than the key's
    r = api.client.post("/v1/scans", json=batch, headers=api.auth("SZX-OUT-07"))
    assert r.status_code == 200
    body = r.json()
    assert [x["status"] for x in body["results"]] == [
        "accepted", "rejected", "accepted", "duplicate", "rejected"]
    assert "unknown field 'colour'" in body["results"][1]["reason"]
    assert body["results"][4]["reason"] == "facility: this key posts scans for SZX-OUT-07 only"
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 2)
    assert int(r.headers["X-Parcelflow-Position"]) == body["position"] > 0
    stored = api.service.get(tracking(1))
    assert [e.kind for e in stored.state.timeline if e.scan] == ["pickup", "departure"]


def test_position_lets_a_client_read_its_own_writes(api):
    api.client.post("/v1/parcels", json=manifest(2), headers=api.auth("orders"))
    r = api.client.post("/v1/scans", json=journey(2)[:1], headers=api.auth("SZX-OUT-07"))
    position = int(r.headers["X-Parcelflow-Position"])
    ready = api.client.get("/readyz").json()
    tracking_view = next(p for p in ready["projections"] if p["projection"] == "tracking")
    assert tracking_view["position"] < position  # nobody has projected yet
    api.catch_up("tracking")
    ready = api.client.get("/readyz").json()
    assert next(p for p in ready["projections"] if p["projection"] == "tracking")["position"] \
        >= position
    assert api.client.get(f"/v1/parcels/{tracking(2)}").json()["status"] == "picked_up"


def test_an_idempotency_key_answers_a_retry_the_same(api):
    headers = {**api.auth("SZX-OUT-07"), "Idempotency-Key": "batch-0001"}
    batch = journey(3)[:2]
    first = api.client.post("/v1/scans", json=batch, headers=headers)
    again = api.client.post("/v1/scans", json=batch, headers=headers)
    assert first.json()["accepted"] == 2
    assert again.json() == first.json()  # not "2 duplicates": the same answer
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Parcelflow-Position"] == first.headers["X-Parcelflow-Position"]
    other = api.client.post("/v1/scans", json=batch[:1], headers=headers)
    assert "different request" in is_problem(other, 422)["detail"]
    # Keys are per credential: another scanner's same key is its own.
    mine = {**api.auth("SZX-HUB-01"), "Idempotency-Key": "batch-0001"}
    assert api.client.post("/v1/scans", json=[], headers=mine).json()["results"] == []


def test_register_one_manifest_or_a_batch(api):
    r = api.client.post("/v1/parcels", json=manifest(4), headers=api.auth("orders"))
    assert r.json()["results"] == [{"index": 0, "status": "accepted",
                                    "tracking_no": tracking(4), "reason": None}]
    bad = manifest(6, receiver={"name": "李华", "phone": "not-a-phone", "address": "x"})
    r = api.client.post("/v1/parcels", json=[manifest(4), manifest(5), bad],
                        headers=api.auth("orders"))
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["duplicate", "accepted", "rejected"]
    assert "receiver.phone" in results[2]["reason"]
    assert "not-a-phone" not in r.text  # personal data is never echoed in a reason
    assert api.service.get(tracking(5)).manifest is not None


def test_bad_bodies_are_problems(api):
    headers = api.auth("SZX-OUT-07")
    r = api.client.post("/v1/scans", content=b"[{", headers={
        **headers, "Content-Type": "application/json"})
    assert "not valid JSON" in is_problem(r, 400)["detail"]
    r = api.client.post("/v1/scans", json={"scan_id": "x"}, headers=headers)
    assert is_problem(r, 422)["errors"] == [{"field": "body", "reason": "must be an array"}]
    r = api.client.post("/v1/scans", content=b"[]", headers={**headers, "Content-Type": "text/csv"})
    is_problem(r, 415)
    too_many = [scan("pickup", "SZX-OUT-07", 0, n) for n in range(1001)]
    r = api.client.post("/v1/scans", json=too_many, headers=headers)
    assert "at most 1000" in is_problem(r, 413)["detail"]


def test_oversized_bodies_are_refused_before_they_are_read(api):
    headers = {**api.auth("SZX-OUT-07"), "Content-Type": "application/json"}
    big = b"[" + b" " * api.settings.api_max_body_bytes + b"]"
    assert "larger than" in is_problem(
        api.client.post("/v1/scans", content=big, headers=headers), 413)["detail"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b" " * 32_768

    is_problem(api.client.post("/v1/scans", content=chunks(), headers=headers), 413)


def test_who_may_post(api):
    batch = journey(7)[:1]
    r = api.client.post("/v1/scans", json=batch)
    assert is_problem(r, 401) and r.headers["WWW-Authenticate"].startswith("Bearer")
    is_problem(api.client.post("/v1/scans", json=batch,
                               headers={"Authorization": "Bearer pf_123_wrong"}), 401)
    token = api.auth("SZX-OUT-07")["Authorization"]
    is_problem(api.client.post("/v1/scans", json=batch,
                               headers={"Authorization": token + "x"}), 401)
    assert "cannot do this" in is_problem(
        api.client.post("/v1/scans", json=batch, headers=api.auth("admin")), 403)["detail"]
    is_problem(api.client.post("/v1/parcels", json=manifest(7),
                               headers=api.auth("SZX-OUT-07")), 403)


def test_a_revoked_key_is_refused_within_the_credential_cache_time(make_service, postgres_url):
    # The API reuses a verified key for PARCELFLOW_API_CREDENTIAL_CACHE_SECONDS; the
    # revocation (here, as by `parcelflow keys revoke`, through another store) is
    # honoured once that time has passed since the key was last read.
    for api in make_api(make_service(postgres_url), postgres_url,
                        api_credential_cache_seconds=0.5):
        headers = api.auth("SZX-OUT-07")
        assert api.client.post("/v1/scans", json=[], headers=headers).status_code == 200
        read_at = time.monotonic()
        assert api.keys.revoke(api.issued["scanner-SZX-OUT-07"].credential.key_id)
        time.sleep(max(0.0, read_at + 0.6 - time.monotonic()))
        r = api.client.post("/v1/scans", json=[], headers=headers)
        assert is_problem(r, 401)["detail"] == "this key was revoked"


def test_without_the_credential_cache_a_revoked_key_is_refused_at_once(make_service,
                                                                       postgres_url):
    for api in make_api(make_service(postgres_url), postgres_url,
                        api_credential_cache_seconds=0):
        headers = api.auth("SZX-OUT-07")
        assert api.client.post("/v1/scans", json=[], headers=headers).status_code == 200
        assert api.keys.revoke(api.issued["scanner-SZX-OUT-07"].credential.key_id)
        r = api.client.post("/v1/scans", json=[], headers=headers)
        assert is_problem(r, 401)["detail"] == "this key was revoked"


def test_the_credential_cache_answers_from_memory_and_never_keeps_a_wrong_secret(
        make_service, postgres_url):
    for api in make_api(make_service(postgres_url), postgres_url,
                        api_credential_cache_seconds=60):
        headers = api.auth("SZX-OUT-07")
        issued = api.issued["scanner-SZX-OUT-07"]
        assert api.client.post("/v1/scans", json=[], headers=headers).status_code == 200
        # Within the cache time the key is answered from memory: its row, revoked in the
        # database, is not read again until then ...
        assert api.keys.revoke(issued.credential.key_id)
        assert api.client.post("/v1/scans", json=[], headers=headers).status_code == 200
        # ... while a wrong secret for the same key id is read, and refused, every time.
        wrong = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
        for _ in range(2):
            r = api.client.post("/v1/scans", json=[],
                                headers={"Authorization": f"Bearer {wrong}"})
            assert is_problem(r, 401)["detail"] == "unknown key, or wrong secret"
        # A change made in this process applies at once: what was cached of it is dropped.
        api.client.app.state.ctx.credential_cache.forget(issued.credential.key_id)
        r = api.client.post("/v1/scans", json=[], headers=headers)
        assert is_problem(r, 401)["detail"] == "this key was revoked"


def _signed(api, secret: str, body: bytes, *, at: int | None = None, path: str = "/v1/scans"):
    stamp = str(at if at is not None else int(time.time()))
    return {"X-Parcelflow-Timestamp": stamp,
            "X-Parcelflow-Signature": sign(secret, stamp, "POST", path, body),
            "Content-Type": "application/json"}


def test_signed_requests_stale_replayed_and_forged(api):
    issued = api.key("scanner-signed", Kind.SCANNER, facility="SZX-OUT-07",
                     require_signature=True)
    bearer = {"Authorization": f"Bearer {issued.token}"}
    body = orjson.dumps(journey(8)[:1])
    secret = issued.signing_secret
    assert secret

    unsigned = api.client.post("/v1/scans", content=body, headers={
        **bearer, "Content-Type": "application/json"})
    assert "must sign" in is_problem(unsigned, 401)["detail"]

    headers = {**bearer, **_signed(api, secret, body)}
    assert api.client.post("/v1/scans", content=body, headers=headers).json()["accepted"] == 1
    replay = api.client.post("/v1/scans", content=body, headers=headers)
    assert "already received" in is_problem(replay, 401)["detail"]

    stale = {**bearer, **_signed(api, secret, body, at=int(time.time()) - 301)}
    assert "within 300 s" in is_problem(
        api.client.post("/v1/scans", content=body, headers=stale), 401)["detail"]
    # Well past the window: on a loaded machine a second or more passes between signing and
    # the server's check, and a stamp 301 s ahead was then inside it.
    future = {**bearer, **_signed(api, secret, body, at=int(time.time()) + 330)}
    is_problem(api.client.post("/v1/scans", content=body, headers=future), 401)

    forged = {**bearer, **_signed(api, secret, body)}
    tampered = body.replace(b"pickup", b"arrival")
    assert "does not match" in is_problem(
        api.client.post("/v1/scans", content=tampered, headers=forged), 401)["detail"]
    wrong_key = {**bearer, **_signed(api, "pfs_not-the-secret", body)}
    is_problem(api.client.post("/v1/scans", content=body, headers=wrong_key), 401)


def test_a_key_that_may_sign_can_also_send_unsigned(api):
    issued = api.key("orders-2", Kind.MANIFESTS)
    bearer = {"Authorization": f"Bearer {issued.token}"}
    body = orjson.dumps(manifest(9))
    assert api.client.post("/v1/parcels", content=body, headers={
        **bearer, "Content-Type": "application/json"}).status_code == 200
    signed = {**bearer, **_signed(api, issued.signing_secret, body, path="/v1/parcels")}
    assert api.client.post("/v1/parcels", content=body,
                           headers=signed).json()["results"][0]["status"] == "duplicate"
