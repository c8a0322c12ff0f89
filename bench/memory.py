"""Resident memory: per 100,000 cached parcels, and whether it grows with the log.

    .venv/bin/python bench/memory.py [--parcels 10000] [--json FILE]

Every measurement runs in a fresh process (`--child`), which reads its own VmRSS from
/proc/self/status after a full collection; figures are the growth from just before
the work, so the interpreter and imports are not in them.

1. Per cached parcel. The ingest worker: a service with a cache larger than the
   parcels ingests --parcels whole journeys (registration and 11 scans each, batches
   of 1000), so every parcel ends up cached at its full history. Each projection: a
   runner whose replica holds every parcel projects the same log from position 0.
   RSS growth / parcels cached x 100,000.
2. Growth with the log's length. Each path again, with a cache of a quarter of the
   parcels, over the log in four equal steps (the ingest worker: four rounds of new
   parcels; each projection: up to a quarter, a half, ... of the log). Once the cache
   is full, RSS must stay flat: the figure is the growth from the second step to the
   fourth, per 10,000 parcels more in the log. A path that kept something per event or
   per parcel beyond its bounded caches would show it here.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import Figure, write  # noqa: E402  (bench/figures.py)

CST = timezone(timedelta(hours=8))


def rss_mib() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _service(url: str, cache: int, clock: Clock):  # type: ignore[no-untyped-def]
    from parcelflow.bootstrap import build_service
    from parcelflow.settings import Settings

    return build_service(Settings(database_url=url, _env_file=None),  # type: ignore[call-arg]
                         clock=clock, cache_size=cache)


def ingest_parcels(svc, clock: Clock, first: int, count: int, t0: datetime) -> None:  # type: ignore[no-untyped-def]
    from tests.support.builders import journey, manifest

    numbers = range(first, first + count)
    clock.now = t0 - timedelta(hours=1)
    for start in range(0, count, 1000):
        svc.register([manifest(n) for n in numbers[start:start + 1000]])
    clock.now = t0 + timedelta(days=2)
    journeys = [journey(n, t0=t0) for n in numbers]
    scans = [j[step] for step in range(11) for j in journeys]
    for start in range(0, len(scans), 1000):
        svc.ingest(scans[start:start + 1000])


def child(kind: str, url: str, parcels: int, cache: int, steps: int, arg: str = "") -> dict:
    """`arg`: the first parcel number (ingest) or the projection's name."""
    from parcelflow.logs import configure_logging
    from parcelflow.runtime import tune_gc

    configure_logging(level="WARNING")
    tune_gc()
    t0 = (datetime.now(CST) - timedelta(days=2)).replace(microsecond=0)
    clock = Clock(t0)
    svc = _service(url, cache if kind == "ingest" else 0, clock)
    readings = []
    if kind == "ingest":
        base = rss_mib()
        per = parcels // steps
        for k in range(steps):
            ingest_parcels(svc, clock, int(arg) + k * per, per, t0)
            readings.append(rss_mib() - base)
        cached = len(svc.work._cache) if svc.work._cache is not None else 0  # type: ignore[attr-defined]
    else:
        from parcelflow.projections.registry import runner

        r = runner(svc, arg, replica_size=cache)
        r.projection.view.drop()
        head = svc.recorder.max_notification_id() or 0
        base = rss_mib()
        for k in range(steps):
            r.run(upto=head * (k + 1) // steps)
            readings.append(rss_mib() - base)
        cached = len(r.projection.replica._cache.cache)
        r.close()
    svc.close()
    return {"readings_mib": readings, "cached": cached}


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=10_000)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, parcels, cache, steps, *name = args.child
        print(json.dumps(child(kind, url, int(parcels), int(cache), int(steps), *name)))
        return

    from parcelflow.projections.registry import PROJECTIONS

    name = f"parcelflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0] + "/" + name
    n, quarter = args.parcels, args.parcels // 4
    figures = []
    try:
        # 1 and 2 for the ingest worker; its runs also write the log the projections read.
        full = run_child("ingest", url, str(n), str(2 * n), "1", "1")
        per_100k = full["readings_mib"][-1] / full["cached"] * 100_000
        grow = run_child("ingest", url, str(n), str(quarter), "4", str(n + 1))
        slope = (grow["readings_mib"][3] - grow["readings_mib"][1]) / (2 * quarter) * 10_000
        print(f"ingest worker: {per_100k:,.0f} MiB per 100,000 cached parcels "
              f"({full['cached']:,} cached, +{full['readings_mib'][-1]:,.0f} MiB); with a cache "
              f"of {quarter:,} over 4 rounds of {quarter:,} new parcels: RSS growth "
              + ", ".join(f"{r:,.0f}" for r in grow["readings_mib"])
              + f" MiB -> {slope:+.1f} MiB per 10,000 parcels more once full")
        figures.append(Figure("memory_ingest", "ingest worker: resident memory per 100,000 "
                              "cached parcels", per_100k, "MiB", lower_is_better=True,
                              extra={"growth_readings_mib": grow["readings_mib"],
                                     "growth_mib_per_10k_parcels_once_full": round(slope, 1)}))
        for projection in PROJECTIONS:
            full = run_child("projection", url, str(2 * n), str(4 * n), "1", projection)
            if full["cached"] < n:  # it keeps only some parcels (cases: those with a case)
                print(f"projection {projection:<10}: keeps only {full['cached']:,} parcels "
                      f"(+{full['readings_mib'][-1]:,.0f} MiB): no per-parcel figure")
                continue
            per_100k = full["readings_mib"][-1] / full["cached"] * 100_000
            grow = run_child("projection", url, str(2 * n), str(n // 2), "4", projection)
            slope = (grow["readings_mib"][3] - grow["readings_mib"][1]) / n * 10_000
            print(f"projection {projection:<10}: {per_100k:,.0f} MiB per 100,000 cached parcels "
                  f"({full['cached']:,} cached); with a replica of {n // 2:,} over the log in 4 "
                  f"steps: RSS growth " + ", ".join(f"{r:,.0f}" for r in grow["readings_mib"])
                  + f" MiB -> {slope:+.1f} MiB per 10,000 parcels more once full")
            figures.append(Figure(f"memory_{projection}", f"{projection} projection: resident "
                                  "memory per 100,000 cached parcels", per_100k, "MiB",
                                  lower_is_better=True,
                                  extra={"growth_readings_mib": grow["readings_mib"],
                                         "growth_mib_per_10k_parcels_once_full": round(slope, 1)}))
        write(args.json, figures)
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
