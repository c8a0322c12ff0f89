"""How long a wrong `phone_last4` takes on a known parcel, against an unknown tracking
number: the two must cost the same, or the time tells a guesser which numbers exist and
when its guesses reach the parcel's stored phones.

    .venv/bin/python bench/proof_timing.py [--parcels 300] [--rounds 3]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a throwaway PostgreSQL database, registers parcels with a few scans each (not
timed) and projects the tracking view, then drives the app in this process (FastAPI's
TestClient: the server's own work, without loopback noise) with, interleaved:

- a wrong proof on a known parcel, and a proof on an unknown number, each number's
  first in this process (cold),
- the same again on numbers asked before (warm).

Every request comes from its own client address, so no rate limit takes part. Prints
each kind's median and p90 in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from parcelflow.adapters.credentials import Kind  # noqa: E402
from parcelflow.api.app import create_app, credential_store  # noqa: E402
from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.projections.registry import runner  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import journey, manifest, recent_start, tracking  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    name = f"parcelflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        run(url, args.parcels, args.rounds)
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(url: str, parcels: int, rounds: int) -> None:
    settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                        api_lookup_limit_per_parcel="100000/minute",
                        api_lookup_limit_per_address="100000/minute",
                        api_proof_failure_limit="100000/hour")
    svc = build_service(settings)
    t0 = recent_start()
    svc.register([manifest(n) for n in range(1, parcels + 1)])
    for n in range(1, parcels + 1):
        svc.ingest(journey(n, t0=t0)[:8])
    r = runner(svc, "tracking")
    r.run()
    r.close()
    credential_store(svc, settings).create(Kind.MANIFESTS, "bench")
    app = create_app(settings, service=svc)
    timings: dict[str, list[float]] = {
        "cold, known parcel": [], "cold, unknown number": [],
        "warm, known parcel": [], "warm, unknown number": []}
    async def from_address(scope, receive, send):  # type: ignore[no-untyped-def]
        # Each request from its own address (the header names it), in one client.
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"x-bench-client", b"10.0.0.1").decode()
            scope = {**scope, "client": (given, 1)}
        await app(scope, receive, send)

    with TestClient(from_address) as client:
        def lookup(number: str) -> float:
            address = f"10.{random.randrange(250)}.{random.randrange(250)}.{random.randrange(250)}"
            started = time.perf_counter()
            response = client.get(f"/v1/parcels/{number}", params={"phone_last4": "0000"},
                                  headers={"x-bench-client": address})
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 404, response.text
            return elapsed

        client.get("/healthz")
        for n in range(20):  # warm the app's code paths
            lookup(tracking(900_000 + n))
        known = list(range(1, parcels + 1))
        for round_ in range(rounds):
            random.shuffle(known)
            heat = "cold" if round_ == 0 else "warm"
            for n in known:
                timings[f"{heat}, known parcel"].append(lookup(tracking(n)))
                timings[f"{heat}, unknown number"].append(lookup(tracking(500_000 + n)))
    svc.close()
    for kind, values in timings.items():
        values.sort()
        print(f"{kind:22s} n={len(values):5d}  median {statistics.median(values):6.2f} ms  "
              f"p90 {values[int(0.9 * len(values))]:6.2f} ms")


if __name__ == "__main__":
    main()
