"""Ingest throughput with the event store on one, two and three PostgreSQL servers.

    .venv/bin/python bench/shards.py [--parcels 1000] [--json FILE]

Starts three throwaway PostgreSQL servers from the machine's binaries (as the tests do,
tests/support/pg_servers.py), then for 1, 2 and 3 shards: registers --parcels parcels
(not timed) and times their whole journeys (11 scans each) through the service's
ingest, hub-ordered, in batches of PARCELFLOW_MAX_BATCH (1000) with the ingest cache
warm — what an ingest worker does. With several shards each batch is cut per shard and
the sub-batches run side by side (application/sharding.py).

This machine's two cores are shared by this process and every server, so the
throughput cannot grow the way it does when each shard has a machine of its own.
Printed beside it, in the same run, are the two figures that do scale there:
- per shard, the time in its database: the wall time of that shard's store calls
  (the load query, the version check and the insert), timed around the recorder (with
  sub-batches side by side it includes waits for the interpreter lock after the reply);
- the Python time per scan: this process's CPU time over the ingest, per scan (it
  includes the database client's work, not the servers').
The limit: a binary COPY of the rows the 1-shard run stored into a bare table of the
events table's shape on one server (`physical_limits.copy_rows`): what one server takes
with nothing of parcelflow's around it; k servers take k times that at best.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import journey, manifest  # noqa: E402
from tests.support.pg_servers import fresh_database, postgres_servers  # noqa: E402

from figures import Figure, write  # noqa: E402  (bench/figures.py)
from physical_limits import copy_rows, stored_rows  # noqa: E402

CST = timezone(timedelta(hours=8))
TIMED = ("select_events_for", "max_versions", "insert_events")


def time_store_calls(recorder, seconds: dict[str, float], shard: str) -> None:
    """Wrap the recorder's store calls on this instance to add up their wall time."""
    for name in TIMED:
        original = getattr(recorder, name)

        def timed(*args, _original=original, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                seconds[shard] += time.perf_counter() - started

        setattr(recorder, name, timed)


def run(urls: list[str], parcels: int, max_batch: int) -> dict:
    settings = Settings(_env_file=None, shards=json.dumps(urls), max_batch=max_batch)  # type: ignore[call-arg]
    now = datetime.now(CST).replace(microsecond=0)
    service = build_service(settings, clock=lambda: now)
    shards = getattr(service, "shards", [service])
    db_seconds: dict[str, float] = defaultdict(float)
    try:
        numbers = range(1, parcels + 1)
        for start in range(0, parcels, max_batch):
            service.register([manifest(n) for n in numbers[start:start + max_batch]])
        t0 = now - timedelta(hours=30)
        journeys = [journey(n, t0=t0) for n in numbers]
        scans = [j[step] for step in range(len(journeys[0])) for j in journeys]
        for i, shard in enumerate(shards):
            time_store_calls(shard.recorder, db_seconds, f"shard {i + 1}")
        cpu, wall = time.process_time(), time.perf_counter()
        accepted = 0
        for start in range(0, len(scans), max_batch):
            accepted += service.ingest(scans[start:start + max_batch]).accepted
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert accepted == len(scans), (accepted, len(scans))
        return {"scans": len(scans), "rate": len(scans) / wall, "seconds": wall,
                "python_us_per_scan": cpu / len(scans) * 1e6,
                "db_seconds": dict(db_seconds)}
    finally:
        service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcels", type=int, default=1000)
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    figures: list[Figure] = []
    with postgres_servers(3) as servers:
        limit = None
        for k in (1, 2, 3):
            with ExitStack() as stack:
                urls = [stack.enter_context(fresh_database(s, "parcelflow_bench"))
                        for s in servers[:k]]
                result = run(urls, args.parcels, args.max_batch)
                if limit is None:
                    limit = copy_rows(urls[0], stored_rows(urls[0], 0), args.max_batch)
            per_shard = ", ".join(f"{name} {s:.2f} s ({s / result['seconds']:.0%} of the run)"
                                  for name, s in sorted(result["db_seconds"].items()))
            print(f"{k} shard(s): {result['scans']:,} scans in {result['seconds']:.2f} s; "
                  f"Python {result['python_us_per_scan']:.0f} µs/scan; database time "
                  f"{per_shard}", flush=True)
            figures.append(Figure(
                f"ingest_shards_{k}", f"ingest, {k} shard(s), one process", result["rate"],
                "scans/s", "binary COPY on one server", limit, "rows/s",
                extra={"python_us_per_scan": round(result["python_us_per_scan"], 1),
                       "db_seconds_per_shard": {n: round(s, 3) for n, s in
                                                result["db_seconds"].items()},
                       "seconds": round(result["seconds"], 3)}))
    write(args.json, figures)


if __name__ == "__main__":
    main()
