"""The web pages under load: the customer tracking page, without and with the phone proof,
against `parcelflow serve` on PostgreSQL, driven from a second process over loopback.

    .venv/bin/python bench/web.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--parcels 2000] [--rate 300] [--seconds 10]
                                  [--workers 1] [--json FILE]

Seeds parcels as bench/api.py does (registered, picked up, tracking view projected; not
timed), starts `parcelflow serve` as its own process and drives it from this one with
persistent HTTP/1.1 connections (bench/api.py's client and driver). Latency is measured
here, from the moment a request was due (open loop) or sent (closed loop) to its whole
answer.

- page, closed loop, 8 clients: `GET /track/{no}` as a customer without proof sees it;
- page, open loop at --rate for --seconds: the same pages on a fixed schedule (each
  latency from its scheduled time: queueing shows);
- proven page, closed loop, 8 clients: `GET /track/{no}` with the proof cookie (the full
  timeline, and the parcel's situation read from the store).

The limit each is set beside, measured in the same run on the same server: the JSON
API's lookup of the same parcels (`GET /v1/parcels/{no}`, with `phone_last4` for the
proven page) in the same loop: the lookup's own cost, without templates.
The client shares the machine's cores with the server and PostgreSQL: a floor.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.builders import tracking  # noqa: E402

from api import (CST, Client, drive, drop_scratch, quiet_collector,  # noqa: E402
                 scratch_database, seed, start_server)
from figures import Figure, write  # noqa: E402  (bench/figures.py)

# A throwaway database: a development run (no master keys), or `serve` refuses to start.
os.environ.setdefault("PARCELFLOW_DEVELOPMENT", "true")
PHONE_LAST4 = "4321"  # the builders' receiver
PROVEN = 8  # parcels one browser keeps proofs for (web/track.py MAX_REMEMBERED)


class HeaderClient(Client):
    """bench/api.py's client, keeping the last answer's headers (for the cookie)."""

    def call(self, method, path, body=None, headers=None):  # type: ignore[no-untyped-def]
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        self.last_headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, response.read()


def line(name: str, result: dict, limit_name: str, limit: dict) -> str:
    return (f"{name}: {result['rate']:,.0f} requests/s, p50 {result['p50']:.1f} ms, "
            f"p99 {result['p99']:.1f} ms, {result['errors']} errors; {limit_name}: "
            f"{limit['rate']:,.0f}/s, p50 {limit['p50']:.1f} ms, p99 {limit['p99']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=300, help="open-loop pages per second")
    parser.add_argument("--seconds", type=float, default=10, help="open-loop duration")
    parser.add_argument("--requests", type=int, default=3000, help="per closed loop")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    name, url, log = scratch_database(args.admin_url)
    t0 = (datetime.now(CST) - timedelta(days=2)).replace(microsecond=0)
    server = None
    figures: list[Figure] = []
    try:
        print(f"database: {name} (PostgreSQL); seeding {args.parcels} parcels ...", flush=True)
        seed(url, args.parcels, t0)
        server = start_server(url, args.port, args.workers, log)
        print(f"parcelflow serve: {args.workers} worker(s) on 127.0.0.1:{args.port}, "
              f"driven from this process (pid {os.getpid()})\n")
        rng = random.Random(11)
        numbers = [tracking(rng.randint(1, args.parcels)) for _ in range(args.requests)]

        def gets(path: str, headers: dict | None = None, count: int | None = None) -> list:
            chosen = numbers if count is None else [numbers[i % len(numbers)] for i in range(count)]
            return [("GET", path.format(no=n), None, headers or {}) for n in chosen]

        drive(args.port, gets("/track/{no}", count=1000), 16)  # warm-up: pools, threads
        quiet_collector()

        page = drive(args.port, gets("/track/{no}"), 8)
        api = drive(args.port, gets("/v1/parcels/{no}"), 8)
        print(line("tracking page, closed loop, 8 clients", page, "JSON lookup", api))
        figures.append(Figure(
            "web_track_closed", "tracking page `GET /track/{no}`, closed loop, 8 clients",
            page["rate"], "requests/s", "JSON lookup of the same parcels, 8 clients",
            api["rate"], "requests/s",
            extra={"p50_ms": round(page["p50"], 2), "p99_ms": round(page["p99"], 2),
                   "errors": page["errors"], "limit_p99_ms": round(api["p99"], 2)}))

        count = int(args.rate * args.seconds)
        page = drive(args.port, gets("/track/{no}", count=count), 16, rate=args.rate)
        api = drive(args.port, gets("/v1/parcels/{no}", count=count), 16, rate=args.rate)
        print(line(f"tracking page, open loop at {args.rate:.0f}/s", page,
                   "JSON lookup at the same rate", api))
        figures.append(Figure(
            f"web_track_open_{args.rate:.0f}",
            f"tracking page, open loop at {args.rate:.0f}/s: p99", page["p99"], "ms",
            "JSON lookup at the same rate, p99", api["p99"], "ms", lower_is_better=True,
            extra={"achieved": round(page["rate"], 1), "p50_ms": round(page["p50"], 2),
                   "errors": page["errors"], "limit_p50_ms": round(api["p50"], 2)}))

        proved = list(dict.fromkeys(numbers))[:PROVEN]
        client = HeaderClient(args.port)
        cookie = ""
        for number in proved:
            status, _ = client.call(
                "POST", f"/track/{number}/proof", f"phone_last4={PHONE_LAST4}".encode(),
                {"Content-Type": "application/x-www-form-urlencoded",
                 **({"Cookie": cookie} if cookie else {})})
            assert status == 303, (status, number)
            cookie = "pf_proof=" + SimpleCookie(client.last_headers["set-cookie"])["pf_proof"].value
        full = [("GET", f"/track/{proved[i % PROVEN]}", None, {"Cookie": cookie})
                for i in range(args.requests)]
        full_api = [("GET", f"/v1/parcels/{proved[i % PROVEN]}?phone_last4={PHONE_LAST4}", None, {})
                    for i in range(args.requests)]
        page = drive(args.port, full, 8)
        api = drive(args.port, full_api, 8)
        print(line("proven tracking page (full timeline, situation), closed loop, 8 clients",
                   page, "JSON lookup with phone_last4", api))
        figures.append(Figure(
            "web_track_proven_closed",
            "tracking page with proof (full timeline), closed loop, 8 clients", page["rate"],
            "requests/s", "JSON lookup with phone_last4 of the same parcels, 8 clients",
            api["rate"], "requests/s",
            extra={"p50_ms": round(page["p50"], 2), "p99_ms": round(page["p99"], 2),
                   "errors": page["errors"], "limit_p99_ms": round(api["p99"], 2)}))
        write(args.json, figures)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_scratch(args.admin_url, name, log)


if __name__ == "__main__":
    main()
