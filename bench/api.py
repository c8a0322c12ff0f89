"""HTTP API throughput and latency: the public lookup and POST /v1/scans with 100-item
batches, against `parcelflow serve` on PostgreSQL, from a second process on loopback.

    .venv/bin/python bench/api.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--rates 500,1000] [--seconds 10] [--workers 1]
                                  [--json FILE] [--profile DIR]
                                  [--parts lookup,scans,cpu] [--cpu-requests 4000]

Creates a throwaway database, registers parcels and records their first scans (not
timed), projects the tracking view, starts `parcelflow serve` as its own process and
drives it from this one over loopback with persistent HTTP/1.1 connections (one per
client thread, the standard library's http.client: the lightest client Python has).

- lookup, open loop: requests are sent on a fixed schedule (`--rate` per second) whatever
  the answers do, and each latency is measured from its scheduled time, so a slow
  server cannot hide its queueing (no coordinated omission). 10% carry a phone proof.
- lookup, closed loop: 8 clients as fast as they are answered: the ceiling.
- cpu (only when asked, `--parts cpu`): the server process's CPU time per lookup
  (utime + stime of the whole process from /proc/PID/stat, before and after), for
  `--cpu-requests` lookups without proof and as many with a right `phone_last4`, 8
  clients closed loop, five rounds each (the lowest and the median are printed with all
  five: a process sharing the cores adds to a round's CPU time, never takes from it). Unlike
  the rates it hardly depends on what else runs on the machine; with --profile, py-spy
  is attached to the first round of each.
- scans: 4 clients posting 100-item batches (hub scans: arrival, sort, departure of
  100 different parcels per batch), as fast as they are answered.

The limits, measured in the same run from this process:
- lookups: the same tracking-view rows read with a bare prepared SELECT, one round
  trip each (`physical_limits.bare_selects`): closed loop with as many clients as the closed
  lookup loop, and open loop at each offered rate with as many clients as the open
  lookup loop (its p99 is the floor of the lookup's p99);
- scans: a raw COPY of the rows the posted scans stored, 100 to a transaction as the
  batches were (`physical_limits.copy_rows`).

With --profile, py-spy is attached to the server process for the open loop at the
highest rate and for the scan posting.

Targets (issue 13): 1,000 lookups/s with p99 < 20 ms; POST /v1/scans >= 10,000
scans/s. The client shares the machine's two cores with the server and PostgreSQL,
so the figures are a floor.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.adapters.credentials import Kind  # noqa: E402
from parcelflow.api.app import credential_store  # noqa: E402
from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.projections.registry import runner  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import journey, manifest, tracking  # noqa: E402

from figures import Figure, write  # noqa: E402  (bench/figures.py)
from physical_limits import bare_selects, copy_rows, head, stored_rows, when_due  # noqa: E402
from profiling import enable, profiled  # noqa: E402

CST = timezone(timedelta(hours=8))
HUB = "SZX-HUB-01"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Client:
    """One persistent connection."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, response.read()


def seed(url: str, parcels: int, t0: datetime) -> dict:
    """Parcels registered and picked up; the tracking view projected; a hub scanner key."""
    configure_logging("json", "WARNING")
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    svc = build_service(settings, cache_size=0)
    try:
        for start in range(1, parcels + 1, 500):
            numbers = range(start, min(start + 500, parcels + 1))
            svc.register([manifest(n) for n in numbers])
            svc.ingest([s for n in numbers for s in journey(n, t0=t0)[:2]])
        r = runner(svc, "tracking")
        r.run()
        r.close()
        key = credential_store(svc, settings).create(Kind.SCANNER, "bench-hub", facility=HUB)
        return {"token": key.token}
    finally:
        svc.close()


def hub_batches(parcels: int, t0: datetime) -> list[bytes]:
    """Arrival, sort and departure at the hub: every parcel's arrival first, then every
    sort, ..., 100 different parcels to a batch, as a hub's scanners send them."""
    steps = [[journey(n, t0=t0)[k] for n in range(1, parcels + 1)] for k in (2, 3, 4)]
    scans = [s for step in steps for s in step]
    return [json.dumps(scans[i:i + 100]).encode() for i in range(0, len(scans), 100)]


def start_server(url: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": url, "PARCELFLOW_LOG_FORMAT": "json",
           # A throwaway database seeded without master keys (issue 12 requires them
           # in production): the long-running commands run as a development run.
           "PARCELFLOW_DEVELOPMENT": "true",
           "PARCELFLOW_API_LOOKUP_LIMIT_PER_ADDRESS": "10000000/minute",
           "PARCELFLOW_API_LOOKUP_LIMIT_PER_PARCEL": "10000000/minute"}
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "parcelflow", "serve", "--port", str(port),
             "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Client(port).call("GET", "/healthz")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not start; see {log}")


def lookup_paths(parcels: int, count: int) -> list[str]:
    rng = random.Random(7)
    paths = []
    for _ in range(count):
        path = f"/v1/parcels/{tracking(rng.randint(1, parcels))}"
        paths.append(path + "?phone_last4=4321" if rng.random() < 0.1 else path)
    return paths


Request = tuple[str, str, "bytes | None", dict]


def drive(port: int, requests: list[Request], clients: int, rate: float | None = None,
          accepted: Callable[[bytes], int] | None = None) -> dict:
    """Send the requests from `clients` threads, one persistent connection each.

    Closed loop (no `rate`): each client sends its next request when the last is
    answered; latency is the request's own time. Open loop: request i is due at
    start + i/rate whatever the answers do, and its latency counts from that moment,
    so queueing in a slow server shows (no coordinated omission). `accepted` counts
    what each answer says it took (scans accepted), summed into "accepted".
    """
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    errors = [0]
    taken = [0]
    lock = threading.Lock()

    def work(offset: int) -> None:
        client = Client(port)
        mine, bad, took = [], 0, 0
        for i in range(offset, len(requests), clients):
            due = when_due(start, i, rate)
            method, path, body, headers = requests[i]
            status, answer = client.call(method, path, body, headers)
            mine.append(time.perf_counter() - due)
            bad += status != 200
            if accepted is not None and status == 200:
                took += accepted(answer)
        with lock:
            latencies.extend(mine)
            errors[0] += bad
            taken[0] += took

    pool = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "rate": len(latencies) / elapsed,
            "p50": percentile(latencies, 0.5) * 1000, "p99": percentile(latencies, 0.99) * 1000,
            "errors": errors[0], "accepted": taken[0]}


def quiet_collector() -> None:
    """Keep this process's own garbage collector out of the figures: with the seeding
    done here, a full collection walks millions of objects (measured: 100-360 ms each,
    several in a 10 s run), and every request in flight meanwhile would look that slow."""
    gc.collect()
    gc.freeze()


def lookups(parcels: int, count: int) -> list[Request]:
    return [("GET", path, None, {}) for path in lookup_paths(parcels, count)]


def process_cpu(pid: int) -> float:
    """Seconds of CPU the process has used, all its threads (utime + stime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(port: int, pid: int, parcels: int, count: int) -> dict[str, list[float]]:
    """Milliseconds of server CPU per lookup: without proof, and with a right proof."""
    rng = random.Random(11)
    numbers = [tracking(rng.randint(1, parcels)) for _ in range(count)]
    kinds = {"plain": [f"/v1/parcels/{n}" for n in numbers],
             "phone": [f"/v1/parcels/{n}?phone_last4=4321" for n in numbers]}
    found: dict[str, list[float]] = {}
    for kind, paths in kinds.items():
        requests = [("GET", p, None, {}) for p in paths]
        found[kind] = []
        for round_ in range(5):
            with profiled(f"api-lookup-cpu-{kind}", pid=pid, items=count, unit="request") \
                    if round_ == 0 else _nothing():
                before = process_cpu(pid)
                result = drive(port, requests, 8)
                used = process_cpu(pid) - before
            if result["errors"]:
                raise SystemExit(f"{result['errors']} lookups were not answered 200")
            found[kind].append(used / count * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=6000,
                        help="parcels seeded (scans posted = 3 x parcels)")
    parser.add_argument("--rates", default="500,1000",
                        help="open-loop lookups per second, comma-separated")
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)  # the old single rate
    parser.add_argument("--seconds", type=float, default=10, help="open-loop duration")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--keep", action="store_true", help="keep the database and the log")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--profile", metavar="DIR")
    parser.add_argument("--parts", default="lookup,scans",
                        help="what to measure: lookup, scans, cpu (comma-separated)")
    parser.add_argument("--cpu-requests", type=int, default=4000,
                        help="lookups per round of the CPU measurement")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    enable(args.profile)
    rates = [args.rate] if args.rate else [float(r) for r in args.rates.split(",")]

    name, url, log = scratch_database(args.admin_url)
    t0 = (datetime.now(CST) - timedelta(days=2)).replace(microsecond=0)
    server = None
    figures: list[Figure] = []
    try:
        print(f"database: {name} (PostgreSQL); seeding {args.parcels} parcels ...", flush=True)
        token = seed(url, args.parcels, t0)["token"]
        batches = hub_batches(args.parcels, t0)
        server = start_server(url, args.port, args.workers, log)
        print(f"parcelflow serve: {args.workers} worker(s) on 127.0.0.1:{args.port}, "
              f"driven from this process (pid {os.getpid()})\n")

        # Warm up at the measured concurrency: the first concurrent burst opens the
        # database pool's extra connections (tens of ms each) and the server's threads,
        # which a running server has done long before.
        drive(args.port, lookups(args.parcels, 2000), 16)
        quiet_collector()
        if "cpu" in parts:
            for kind, ms in cpu_per_request(args.port, server.pid, args.parcels,
                                            args.cpu_requests).items():
                print(f"lookup ({kind}), server CPU per request, {args.cpu_requests} requests, "
                      f"8 clients: lowest {min(ms):.3f} ms, median {sorted(ms)[2]:.3f} ms "
                      f"(rounds: {', '.join(f'{m:.3f}' for m in ms)})", flush=True)
                figures.append(Figure(
                    f"lookup_cpu_{kind}", f"public lookup ({kind}), server CPU per request",
                    min(ms), "ms", lower_is_better=True,
                    extra={"rounds_ms": [round(m, 3) for m in ms]}))
        if "lookup" in parts:
            for rate in rates:
                requests = lookups(args.parcels, int(rate * args.seconds))
                with profiled(f"api-lookup-{rate:.0f}", pid=server.pid, items=len(requests),
                              unit="request") if rate == max(rates) else _nothing():
                    lookup = drive(args.port, requests, 16, rate=rate)
                floor = bare_selects(url, [p.split("/")[-1].split("?")[0] for _, p, _, _ in requests],
                                     clients=16, rate=rate)
                ok = "met" if lookup["p99"] < 20 and lookup["rate"] >= 0.95 * rate \
                    and not lookup["errors"] else "NOT met"
                print(f"lookup, open loop at {rate:.0f}/s for {args.seconds:.0f} s: "
                      f"{lookup['rate']:,.0f} requests/s, p50 {lookup['p50']:.1f} ms, "
                      f"p99 {lookup['p99']:.1f} ms, {lookup['errors']} errors  "
                      f"[target p99 < 20 ms at 1,000/s: {ok}]; bare SELECT at the same rate: "
                      f"p50 {floor['p50']:.2f} ms, p99 {floor['p99']:.2f} ms")
                figures.append(Figure(
                    f"lookup_open_{rate:.0f}", f"public lookup, open loop at {rate:.0f}/s: p99",
                    lookup["p99"], "ms", "bare prepared SELECT of the same row at the same rate, p99",
                    floor["p99"], "ms", lower_is_better=True, target="p99 < 20 ms at 1,000/s",
                    extra={"offered": rate, "achieved": round(lookup["rate"], 1),
                           "p50_ms": round(lookup["p50"], 2), "errors": lookup["errors"],
                           "floor_p50_ms": round(floor["p50"], 3)}))
            closed = lookups(args.parcels, 5000)
            ceiling = drive(args.port, closed, 8)
            bare = bare_selects(url, [p.split("/")[-1].split("?")[0] for _, p, _, _ in closed],
                                clients=8)
            print(f"lookup, closed loop, 8 clients: {ceiling['rate']:,.0f} requests/s, "
                  f"p50 {ceiling['p50']:.1f} ms, p99 {ceiling['p99']:.1f} ms, "
                  f"{ceiling['errors']} errors; bare SELECT, 8 clients: {bare['rate']:,.0f}/s, "
                  f"p50 {bare['p50']:.2f} ms")
            figures.append(Figure(
                "lookup_closed", "public lookup, closed loop, 8 clients", ceiling["rate"],
                "requests/s", "bare prepared SELECT of the same row, 8 clients", bare["rate"],
                "selects/s", target="1,000 requests/s",
                extra={"p50_ms": round(ceiling["p50"], 2), "p99_ms": round(ceiling["p99"], 2)}))

        if "scans" in parts:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            before = head(url)
            posts = [("POST", "/v1/scans", b, headers) for b in batches]
            with profiled("api-post-scans", pid=server.pid, items=sum(len(json.loads(b)) for b in batches),
                          unit="scan"):
                scans = drive(args.port, posts, 4, accepted=lambda answer: json.loads(answer)["accepted"])
            rows = stored_rows(url, before)
            copy = copy_rows(url, rows, 100)
            # Scans/s from what the server says it accepted, not from the requests sent.
            seconds = scans["requests"] / scans["rate"]
            rate = scans["accepted"] / seconds
            sent = sum(len(json.loads(b)) for b in batches)
            ok = "met" if rate >= 10_000 and scans["accepted"] == sent else "NOT met"
            print(f"POST /v1/scans, 100-item batches, 4 clients: {scans['rate']:,.1f} requests/s, "
                  f"{scans['accepted']:,} of {sent:,} scans accepted = {rate:,.0f} scans/s, "
                  f"p50 {scans['p50']:.1f} ms, p99 {scans['p99']:.1f} ms, {scans['errors']} errors  "
                  f"[target >= 10,000 scans/s: {ok}]; raw COPY of the same {len(rows):,} rows, "
                  f"100 a transaction: {copy:,.0f} rows/s")
            # Another worker count is another row: its figure beside the one-process one.
            per = "" if args.workers == 1 else f"_{args.workers}_workers"
            said = "" if args.workers == 1 else f", {args.workers} API processes"
            figures.append(Figure(
                "api_post_scans" + per, f"`POST /v1/scans`, 100-item batches, 4 clients{said}",
                rate, "scans/s",
                "raw COPY of the same rows, 100 a transaction", copy, "rows/s",
                target=">= 10,000 scans/s",
                extra={"p50_ms": round(scans["p50"], 1), "p99_ms": round(scans["p99"], 1),
                       "accepted": scans["accepted"], "sent": sent, "errors": scans["errors"]}))
        write(args.json, figures)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            drop_scratch(args.admin_url, name, log)


def scratch_database(admin_url: str) -> tuple[str, str, Path]:
    """A fresh database for one benchmark run: its name, its URL and where the server
    it is served by writes its log. `drop_scratch` removes both."""
    name = f"parcelflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + "/" + name, \
        Path(tempfile.gettempdir()) / f"{name}-serve.log"


def drop_scratch(admin_url: str, name: str, log: Path) -> None:
    log.unlink(missing_ok=True)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    main()
