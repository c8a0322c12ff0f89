"""Per-shard figures for the capacity plan: the event store on one, two and three
PostgreSQL servers.

    .venv/bin/python bench/shards.py [--parcels 500] [--json FILE]

Starts three throwaway PostgreSQL servers from the machine's binaries (as the tests do,
tests/support/pg_servers.py) and one Kafka-protocol broker (Tansu, as the tests do),
then for 1, 2 and 3 shards, on fresh databases:

1. ingest, one process: registers --parcels parcels (not timed) and times their whole
   journeys (11 scans each) through the service's ingest, hub-ordered, in batches of
   --max-batch (1000) with the ingest cache warm — what an ingest worker does. With
   several shards each batch is cut per shard and the sub-batches run side by side
   (application/sharding.py). Printed with it:
   - per shard, the time in its database: the wall time of that shard's store calls
     (the load query, the version check and the insert), timed around the recorder
     (with sub-batches side by side it includes waits for the interpreter lock);
   - the Python time per scan: this process's CPU time over the ingest, per scan (it
     includes the database client's work, not the servers').
2. ingest, k worker processes (k = 1, 2): each its own --parcels / k parcels (as Kafka
   partitions give each worker its own), started together; scans/s over the span from
   the first start to the last end, and each process's CPU time per scan.
3. relay per shard: each shard's relay alone (`build_relays`), publishing that shard's
   whole log to the events topic, acknowledged (acks=all); events/s per shard.
4. projection catch-up per shard: every read model brought up from position 0 on each
   shard's log in turn (`ShardedRunner`'s runner for that log): the shard's events/s
   through all of them, the CPU time per event, and how much of the wall time was the
   read side's writes (all on the first server).
Steps 3 and 4 also print this process's CPU time per event: with the ingest's Python
time per scan, the cost per core that a deployment on many machines multiplies.

The limits, measured in the same run:
- each server's raw binary COPY of the rows its shard stored (`physical_limits.copy_rows`,
  1000 rows a transaction, into a bare table of the events table's shape): what the
  server takes with nothing of parcelflow's around it;
- the relay: kafka-python's own produce rate for the very messages the relays published,
  with the relay's producer settings (`pipeline.relay_limit`).

This machine has two cores shared by this process, every server, the broker, and (while
other engineers work) their tests: throughput cannot grow with shards here the way it
does when each shard has a machine of its own, and runs vary up to 2x. What scales on
separate machines is the per-process Python time and the per-shard database time.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import threading
import time
from collections import defaultdict
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.consumers.relay import build_relays  # noqa: E402

from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.projections.parallel import per_log  # noqa: E402
from parcelflow.projections.registry import runners  # noqa: E402
from parcelflow.runtime import tune_gc  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import journey, manifest  # noqa: E402
from tests.support.kafka_broker import KafkaBroker  # noqa: E402
from tests.support.kafka_settings import kafka_test_settings  # noqa: E402
from tests.support.pg_servers import fresh_database, postgres_servers  # noqa: E402

from figures import Figure, write  # noqa: E402  (bench/figures.py)
from physical_limits import copy_rows, stored_rows  # noqa: E402
from pipeline import relay_limit  # noqa: E402

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


def sharded_settings(urls: list[str], **values: object) -> Settings:
    return Settings(_env_file=None, shards=json.dumps(urls), **values)  # type: ignore[call-arg]


def register_and_scans(service, first: int, parcels: int, max_batch: int,  # type: ignore[no-untyped-def]
                       now: datetime) -> list[dict]:
    """Register parcels first..first+parcels-1 (not timed); their journeys' scans,
    hub-ordered (each batch holds the next scan of many parcels)."""
    numbers = range(first, first + parcels)
    for start in range(0, parcels, max_batch):
        service.register([manifest(n) for n in numbers[start:start + max_batch]])
    t0 = now - timedelta(hours=30)
    journeys = [journey(n, t0=t0) for n in numbers]
    return [j[step] for step in range(len(journeys[0])) for j in journeys]


def run(urls: list[str], parcels: int, max_batch: int) -> dict:
    """Step 1: one process, the whole journeys of `parcels` parcels."""
    now = datetime.now(CST).replace(microsecond=0)
    service = build_service(sharded_settings(urls, max_batch=max_batch), clock=lambda: now)
    shards = getattr(service, "shards", [service])
    db_seconds: dict[str, float] = defaultdict(float)
    try:
        scans = register_and_scans(service, 1, parcels, max_batch, now)
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


def _ingest_process(urls: list[str], first: int, parcels: int, max_batch: int,  # type: ignore[no-untyped-def]
                    ready, go, out) -> None:
    configure_logging("json", "WARNING")
    tune_gc()
    now = datetime.now(CST).replace(microsecond=0)
    service = build_service(sharded_settings(urls, max_batch=max_batch), clock=lambda: now)
    try:
        scans = register_and_scans(service, first, parcels, max_batch, now)
        ready.set()
        go.wait()
        cpu, started = time.process_time(), time.perf_counter()
        accepted = sum(service.ingest(scans[i:i + max_batch]).accepted
                       for i in range(0, len(scans), max_batch))
        out.put((started, time.perf_counter(), accepted, time.process_time() - cpu))
    finally:
        service.close()


def ingest_processes(urls: list[str], processes: int, first: int, parcels: int,
                     max_batch: int) -> dict:
    """Step 2: `processes` ingest processes side by side, `parcels` parcels between them."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    share = parcels // processes
    readies = [ctx.Event() for _ in range(processes)]
    procs = [ctx.Process(target=_ingest_process,
                         args=(urls, first + k * share, share, max_batch, readies[k], go, out))
             for k in range(processes)]
    for p in procs:
        p.start()
    for r in readies:
        r.wait()
    go.set()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    scans = sum(n for _, _, n, _ in spans)
    assert scans == share * processes * 11, scans
    took = max(e for _, e, _, _ in spans) - min(s for s, _, _, _ in spans)
    return {"scans": scans, "rate": scans / took, "seconds": took,
            "python_us_per_scan": [round(cpu / n * 1e6, 1) for _, _, n, cpu in spans]}


def relay_per_shard(urls: list[str], broker: KafkaBroker) -> dict:
    """Step 3: each shard's relay alone, its whole log; then the same messages sent by
    kafka-python itself."""
    settings = kafka_test_settings(urls[0], broker.bootstrap, shards=json.dumps(urls))
    broker.create_topics([settings.kafka_events_topic])
    service = build_service(settings, cache_size=0)
    rates, events, cpu = [], [], []
    try:
        for relay in build_relays(service, settings):
            try:
                started, used = time.perf_counter(), time.process_time()
                relay.run(threading.Event(), follow=False)
                rates.append(relay.published / (time.perf_counter() - started))
                cpu.append((time.process_time() - used) / max(relay.published, 1) * 1e6)
                events.append(relay.published)
            finally:
                relay.close()
    finally:
        service.close()
    return {"rates": rates, "events": events, "cpu_us_per_event": cpu,
            "limit": relay_limit(settings, broker)}


def catch_up_per_shard(urls: list[str]) -> dict:
    """Step 4: every read model from position 0 on each shard's log in turn; the read
    side's commits (on the first server) timed as they go."""
    service = build_service(sharded_settings(urls), cache_size=0)
    built = runners(service)
    shards = len(urls)
    events, seconds, writes, cpu = [0] * shards, [0.0] * shards, [0.0] * shards, [0.0] * shards
    current = [0]
    try:
        for r in built:
            commit = r.projection.commit

            def timed(*args, _commit=commit, **kwargs):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                try:
                    return _commit(*args, **kwargs)
                finally:
                    writes[current[0]] += time.perf_counter() - started

            r.projection.commit = timed  # type: ignore[method-assign]
        for i in range(shards):
            current[0] = i
            for r in built:
                log_runner = per_log(r)[i]
                started, used = time.perf_counter(), time.process_time()
                events[i] = log_runner.run()  # every read model reads the whole log
                seconds[i] += time.perf_counter() - started
                cpu[i] += time.process_time() - used
    finally:
        for r in built:
            r.close()
        service.close()
    return {"events": events, "seconds": seconds, "write_seconds": writes,
            "cpu_us_per_event": [c / max(n, 1) * 1e6 for c, n in zip(cpu, events, strict=True)],
            "read_models": len(built)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcels", type=int, default=500)
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    configure_logging("json", "WARNING")
    logging.basicConfig(level=logging.CRITICAL)  # kafka-python's own logs
    figures: list[Figure] = []
    started = time.perf_counter()
    with postgres_servers(3) as servers, KafkaBroker() as broker:
        for k in (1, 2, 3):
            with ExitStack() as stack:
                urls = [stack.enter_context(fresh_database(s, "parcelflow_bench"))
                        for s in servers[:k]]
                one = run(urls, args.parcels, args.max_batch)
                many = {w: ingest_processes(urls, w, args.parcels * w + 1, args.parcels,
                                            args.max_batch) for w in (1, 2)}
                relays = relay_per_shard(urls, broker)
                views = catch_up_per_shard(urls)
                copies = [copy_rows(u, stored_rows(u, 0), args.max_batch) for u in urls]
            figures += report(k, one, many, relays, views, copies)
    print(f"(the whole run: {time.perf_counter() - started:.0f} s; two cores shared by "
          "every server, the broker and this process)", flush=True)
    write(args.json, figures)


def report(k: int, one: dict, many: dict, relays: dict, views: dict,  # noqa: PLR0913
           copies: list[float]) -> list[Figure]:
    copy_text = ", ".join(f"{c:,.0f}" for c in copies)
    limit_name = "binary COPY on each server (mean)"
    limit = sum(copies) / len(copies)
    per_shard = ", ".join(f"{name} {s:.2f} s ({s / one['seconds']:.0%} of the run)"
                          for name, s in sorted(one["db_seconds"].items()))
    print(f"{k} shard(s): raw binary COPY per server, same run: {copy_text} rows/s", flush=True)
    print(f"  ingest, one process: {one['scans']:,} scans at {one['rate']:,.0f} scans/s; "
          f"Python {one['python_us_per_scan']:.0f} µs/scan; database time {per_shard}")
    figures = [Figure(
        f"ingest_shards_{k}", f"ingest, {k} shard(s), one process", one["rate"],
        "scans/s", limit_name, limit, "rows/s",
        extra={"python_us_per_scan": round(one["python_us_per_scan"], 1),
               "db_seconds_per_shard": {n: round(s, 3) for n, s in one["db_seconds"].items()},
               "copy_rows_per_s_per_server": [round(c) for c in copies],
               "seconds": round(one["seconds"], 3)})]
    for w, got in many.items():
        print(f"  ingest, {w} worker process(es): {got['scans']:,} scans at "
              f"{got['rate']:,.0f} scans/s ({got['rate'] / k:,.0f} per shard); Python "
              f"{', '.join(f'{u:.0f}' for u in got['python_us_per_scan'])} µs/scan per process")
        figures.append(Figure(
            f"ingest_shards_{k}_processes_{w}", f"ingest, {k} shard(s), {w} process(es)",
            got["rate"], "scans/s", limit_name, limit, "rows/s",
            extra={"per_shard": round(got["rate"] / k),
                   "python_us_per_scan": got["python_us_per_scan"]}))
    relay_text = ", ".join(
        f"shard {i + 1} {r:,.0f} ({n:,} events, CPU {c:.0f} µs/event)"
        for i, (r, n, c) in enumerate(zip(relays["rates"], relays["events"],
                                          relays["cpu_us_per_event"], strict=True)))
    print(f"  relay per shard, alone: {relay_text} events/s; kafka-python's own produce rate "
          f"for the same messages: {relays['limit']:,.0f} messages/s")
    for i, rate in enumerate(relays["rates"]):
        figures.append(Figure(
            f"relay_shards_{k}_shard_{i + 1}", f"relay, {k} shard(s), shard {i + 1} alone", rate,
            "events/s", "kafka-python's own produce rate, same messages", relays["limit"],
            "messages/s", extra={"cpu_us_per_event": round(relays["cpu_us_per_event"][i], 1)}))
    for i in range(k):
        rate = views["events"][i] / views["seconds"][i]
        print(f"  projection catch-up, shard {i + 1}: its {views['events'][i]:,} events through "
              f"all {views['read_models']} read models at {rate:,.0f} events/s (CPU "
              f"{views['cpu_us_per_event'][i]:.0f} µs/event for the four); read-side writes "
              f"{views['write_seconds'][i]:.2f} s of {views['seconds'][i]:.2f} s (first server)")
        figures.append(Figure(
            f"projection_shards_{k}_shard_{i + 1}",
            f"projection catch-up, {k} shard(s), shard {i + 1}, every read model", rate,
            "events/s", extra={"events": views["events"][i],
                               "cpu_us_per_event": round(views["cpu_us_per_event"][i], 1),
                               "write_seconds": round(views["write_seconds"][i], 3),
                               "seconds": round(views["seconds"][i], 3)}))
    return figures


if __name__ == "__main__":
    main()
