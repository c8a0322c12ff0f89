"""`parcelflow serve`, `keys` and `health` as an operator runs them: real processes on
PostgreSQL, requests over loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx

from parcelflow.adapters.credentials import Kind
from parcelflow.api.app import credential_store
from parcelflow.bootstrap import build_service
from parcelflow.projections.registry import runner
from parcelflow.settings import Settings

from tests.support.builders import journey, manifest, recent_start, tracking
from tests.support.serving import PARCELFLOW, serve_env, serving

_env = serve_env  # the environment every command of these tests runs in


def run(args: list[str], db: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*PARCELFLOW, *args], cwd=cwd, env=_env(db), capture_output=True,
                          text=True, timeout=120)


def _in_process(db: str, action):
    """What a second CLI call would do, without paying a process start for it."""
    settings = Settings(_env_file=None, database_url=db)  # type: ignore[call-arg]
    svc = build_service(settings)
    try:
        return action(credential_store(svc, settings), svc)
    finally:
        svc.close()


def _project(svc) -> None:
    r = runner(svc, "tracking")
    try:
        r.run()
    finally:
        r.close()


def test_serve_with_keys_and_health(tmp_path, postgres_url):
    made = run(["keys", "create", "scanner", "--name", "scanner-9", "--facility", "SZX-OUT-07",
                "--json"], postgres_url, tmp_path)
    assert made.returncode == 0, made.stderr
    scanner = json.loads(made.stdout)
    orders_key = _in_process(postgres_url, lambda store, _: store.create(Kind.MANIFESTS, "orders"))
    orders = {"token": orders_key.token}
    listed = run(["keys", "list", "--json"], postgres_url, tmp_path)
    assert [k["name"] for k in json.loads(listed.stdout)] == ["scanner-9", "orders"]
    assert scanner["token"].split("_", 2)[2] not in listed.stdout  # secrets never listed

    with serving(tmp_path, postgres_url) as (base, _, log_path):
        with httpx.Client(base_url=base) as http:
            r = http.post("/v1/parcels", json=[manifest(1)],
                          headers={"Authorization": f"Bearer {orders['token']}"})
            assert r.json()["accepted"] == 1
            scans = journey(1, t0=recent_start())[:2]
            r = http.post("/v1/scans", json=scans,
                          headers={"Authorization": f"Bearer {scanner['token']}",
                                   "X-Request-Id": "e2e-1"})
            last_use = time.monotonic()
            assert r.json()["accepted"] == 2 and int(r.headers["X-Parcelflow-Position"]) == 3
            assert http.get(f"/v1/parcels/{tracking(1)}").status_code == 404  # not projected
            _in_process(postgres_url, lambda _, svc: _project(svc))
            r = http.get(f"/v1/parcels/{tracking(1)}")
            assert r.json()["status"] == "in_transit"

            healthy = run(["health", "--projection", "tracking", "--json"], postgres_url, tmp_path)
            assert healthy.returncode == 0 and json.loads(healthy.stdout)["healthy"]

            revoked = run(["keys", "revoke", scanner["key_id"]], postgres_url, tmp_path)
            assert revoked.returncode == 0
            # The server reuses a verified key for up to 2 s (the credential cache's
            # default): the revocation is honoured once that has passed since its check.
            time.sleep(max(0.0, last_use + 2.1 - time.monotonic()))
            r = http.post("/v1/scans", json=[],
                          headers={"Authorization": f"Bearer {scanner['token']}"})
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
            assert "parcelflow_http_requests_total" in http.get("/metrics").text
    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]
    of_request = [line for line in lines if line.get("request_id") == "e2e-1"]
    assert {line["event"] for line in of_request} == {"scans.ingested", "http.request"}
    assert all("request_id" in line for line in lines if line["event"] == "http.request")

    unreachable = run(["health", "--timeout", "2"], "postgresql://postgres@127.0.0.1:1/none",
                      tmp_path)
    assert unreachable.returncode == 1 and "database unreachable" in unreachable.stdout


def _raw(port: int, data: bytes, *, then_close: bool = False, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if then_close:
            return b""
        answer = b""
        while read:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer and answer.split(b"\r\n\r\n", 1)[1]:
                break
        return answer


def test_serve_bounds_request_heads_and_slow_bodies_and_a_vanished_client_is_no_error(
        tmp_path, postgres_url):
    made = run(["keys", "create", "scanner", "--name", "scanner-9", "--facility", "SZX-OUT-07",
                "--json"], postgres_url, tmp_path)
    token = json.loads(made.stdout)["token"]
    with serving(tmp_path, postgres_url, PARCELFLOW_API_MAX_HEADER_BYTES="8192",
                 PARCELFLOW_API_BODY_TIMEOUT="PT1S") as (base, port, log_path):
        # A head over the limit: 431 before the rest of it is read.
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
        assert _raw(port, big).startswith(b"HTTP/1.1 431 ")
        # Under the limit, in many small writes: fine.
        ok = httpx.get(f"{base}/healthz", headers={"X-Fine": "b" * 4000})
        assert ok.status_code == 200
        # A body that stalls: 408 after the configured second, not held open.
        head = (f"POST /v1/scans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[").encode()
        started = time.monotonic()
        answer = _raw(port, head)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert time.monotonic() - started < 5
        # A client that goes away mid-upload: nothing went wrong on our side.
        _raw(port, head + b" " * 100, then_close=True)
        time.sleep(0.5)
        metrics = httpx.get(f"{base}/metrics").text
    assert 'status="500"' not in metrics
    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]
    assert not [line for line in lines if line["event"] == "api.unexpected_error"]
    assert [line for line in lines if line["event"] == "http.client_disconnected"]
