"""Moving a bucket between two PostgreSQL servers under ingest: copy rate and write pause.

    .venv/bin/python bench/shard_move.py [--parcels 2000] [--json FILE]

Starts two throwaway PostgreSQL servers (as the tests do, tests/support/pg_servers.py),
registers --parcels parcels of one bucket on the first and records five scans of each
(not timed), then moves the bucket to the second (`BucketMoves.move`, as `parcelflow
shards move` runs it) while a writer thread (a service of its own, its shard map
cached) sends the rest of every journey in batches of 100. Printed:
- the copy rate: events copied over the time from the move's start to the switch
  (bulk copy, catch-up passes and the final pass under the fence);
- the pause: from the fence's lock request on the old shard to the map's switch
  (writes to the bucket wait that long), and the writer's batch call that spanned the
  switch (it adds the writer's retry waits, up to 0.1 s each, and its own batch), beside
  its median and slowest calls (the slowest come from the shared machine, not the move);
- the same-run limit: a binary COPY of the bucket's rows into a bare table on one server.
This machine's two cores are shared by both servers, the writer and the mover.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.bootstrap import build_bucket_moves, build_service  # noqa: E402
from parcelflow.domain.buckets import bucket_of  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import journey, manifest, tracking  # noqa: E402
from tests.support.pg_servers import fresh_database, postgres_servers  # noqa: E402

from figures import Figure, write  # noqa: E402  (bench/figures.py)
from physical_limits import copy_rows, stored_rows  # noqa: E402

CST = timezone(timedelta(hours=8))
BUCKET = 9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcels", type=int, default=2000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    numbers, n = [], 1
    while len(numbers) < args.parcels:
        if bucket_of(tracking(n)) == BUCKET:
            numbers.append(n)
        n += 1
    with postgres_servers(2) as servers, ExitStack() as stack:
        urls = [stack.enter_context(fresh_database(s, "parcelflow_bench")) for s in servers]
        settings = Settings(_env_file=None, shards=json.dumps(urls))  # type: ignore[call-arg]
        now = datetime.now(CST).replace(microsecond=0)
        service = build_service(settings, clock=lambda: now)
        writer = build_service(settings, clock=lambda: now)
        t0 = now - timedelta(hours=30)
        journeys = {n: journey(n, t0=t0) for n in numbers}
        for start in range(0, len(numbers), 200):  # batches of at most 1000 items
            part = numbers[start:start + 200]
            service.register([manifest(n) for n in part])
            service.ingest([s for n in part for s in journeys[n][:5]])
        rest = [journeys[n][step] for step in range(5, 11) for n in numbers]
        calls: list[float] = []
        accepted = [0]

        starts: list[float] = []

        def write_rest() -> None:
            for start in range(0, len(rest), 100):
                t = time.perf_counter()
                accepted[0] += writer.ingest(rest[start:start + 100]).accepted
                calls.append(time.perf_counter() - t)
                starts.append(t)

        thread = threading.Thread(target=write_rest)
        thread.start()
        time.sleep(0.2)
        began = time.perf_counter()
        report = build_bucket_moves(service, settings).move(BUCKET, urls[1])
        thread.join()
        switched = report.switched_at or began
        across = [c for c, t in zip(calls, starts, strict=True) if t <= switched <= t + c]
        assert accepted[0] == len(rest), (accepted[0], len(rest))
        limit = copy_rows(urls[1], stored_rows(urls[1], 0), 5000)
        service.close()
        writer.close()
    pause = (report.pause_seconds or 0) * 1000
    print(f"bucket {BUCKET}: {report.copied_events:,} events of {report.parcels:,} parcels "
          f"copied in {report.copy_seconds:.2f} s ({report.rate:,.0f} events/s; binary COPY "
          f"on one server in the same run: {limit:,.0f} rows/s); fence to switch "
          f"{pause:.1f} ms; the writer's batch call across the switch took "
          f"{max(across, default=0) * 1000:.0f} ms (all calls: median "
          f"{statistics.median(calls) * 1000:.0f} ms, slowest {max(calls) * 1000:.0f} ms, "
          f"{len(calls)} calls of 100 scans)")
    write(args.json, [
        Figure("shard_move_copy", "bucket move: events copied per second under ingest",
               report.rate, "events/s", "binary COPY on one server", limit, "rows/s",
               extra={"events": report.copied_events, "parcels": report.parcels,
                      "pause_ms": round(pause, 1),
                      "writer_across_switch_ms": round(max(across, default=0) * 1000, 1),
                      "writer_slowest_ms": round(max(calls) * 1000, 1),
                      "writer_median_ms": round(statistics.median(calls) * 1000, 1)})])


if __name__ == "__main__":
    main()
