"""Ingest throughput against PostgreSQL: parcelflow's batched path, the library used
naively, and a raw COPY of rows of the same size.

    .venv/bin/python bench/ingest.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a throwaway database, registers parcels (not timed), then times scans flowing
through full journeys (pickup ... delivered), each batch holding the next scan of many
different parcels — what a hub's scanners send. "parcelflow" includes everything a real
ingest does: wire validation, dedup by scan_id, loading parcels, the timeline fold,
exception detection, hash chaining and the save. "warm" keeps parcels in the ingest
cache between batches (an ingest worker that owns its partitions); "cold" loads every
touched parcel from the store, in one query per batch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.application.ingest import scan_from_wire  # noqa: E402
from parcelflow.application.service import ParcelService  # noqa: E402
from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.domain.ids import parcel_id  # noqa: E402
from parcelflow.domain.parcel import Parcel  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.runtime import tune_gc  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from parcelflow.wire.scans import validate_scan  # noqa: E402
from tests.support.builders import journey, manifest  # noqa: E402

CST = timezone(timedelta(hours=8))


class Workload:
    """Parcels numbered from `first`, registered; their journeys' scans, hub-ordered."""

    def __init__(self, first: int, parcels: int, t0: datetime):
        self.numbers = range(first, first + parcels)
        journeys = [journey(n, t0=t0) for n in self.numbers]
        # Step by step: every parcel's pickup, then every parcel's next scan, ...
        self.scans = [j[step] for step in range(len(journeys[0])) for j in journeys]

    def manifests(self) -> list[dict]:
        return [manifest(n) for n in self.numbers]


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def parcelflow_rate(svc: ParcelService, work: Workload, batch: int, limit: int) -> float:
    scans = work.scans[:limit]

    def run() -> None:
        for start in range(0, len(scans), batch):
            report = svc.ingest(scans[start:start + batch])
            assert report.accepted == len(scans[start:start + batch]), report.rejected[:1]

    return len(scans) / timed(run)


def naive_rate(svc: ParcelService, work: Workload, limit: int) -> float:
    """The library as its tutorial uses it: get the aggregate, change it, save it."""
    scans = work.scans[:limit]
    def run() -> None:
        now = svc.clock()
        for wire in scans:
            checked = validate_scan(wire, now=now, limits=svc.limits)
            parcel = svc.repository.get(parcel_id(wire["tracking_no"]))
            assert isinstance(parcel, Parcel)
            parcel.record_scans([scan_from_wire(checked, svc.network)], recorded_at=now)  # type: ignore[arg-type]
            svc.save(parcel)

    return len(scans) / timed(run)


def copy_rate(url: str, row_bytes: int, rows: int, batch: int) -> float:
    """COPY rows shaped like stored events (uuid, version, topic, state) into a bare table."""
    state = b"x" * row_bytes
    topic = "parcelflow.domain.parcel:Parcel.ScanRecorded"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS copy_bench")
        conn.execute("CREATE TABLE copy_bench (originator_id uuid, originator_version bigint, "
                     "topic text, state bytea, PRIMARY KEY (originator_id, originator_version))")

        def run() -> None:
            for start in range(0, rows, batch):
                with conn.transaction(), conn.cursor().copy(
                        "COPY copy_bench FROM STDIN") as copy:
                    for _ in range(min(batch, rows - start)):
                        copy.write_row((uuid.uuid4(), 1, topic, state))

        return rows / timed(run)


def _worker(url: str, first: int, parcels: int, t0: datetime, ready, go, out) -> None:  # type: ignore[no-untyped-def]
    configure_logging(level="WARNING")
    tune_gc()
    clock = Clock(t0 - timedelta(hours=1))
    svc = build_service(Settings(database_url=url, _env_file=None),  # type: ignore[call-arg]
                        clock=clock, cache_size=1_000_000)
    work = Workload(first, parcels, t0)
    svc.register(work.manifests())
    clock.now = t0 + timedelta(days=2)
    ready.set()
    go.wait()
    started = time.perf_counter()
    for start in range(0, len(work.scans), 1000):
        assert svc.ingest(work.scans[start:start + 1000]).accepted
    out.put((started, time.perf_counter(), len(work.scans)))
    svc.close()


def parallel_rate(url: str, workers: int, first: int, parcels: int, t0: datetime) -> float:
    """Ingest processes side by side, each owning its parcels (as Kafka partitions give
    each worker its own), all writing to the one events table."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(workers)]
    procs = [ctx.Process(target=_worker, args=(url, first + k * parcels, parcels, t0,
                                               readies[k], go, out)) for k in range(workers)]
    for p in procs:
        p.start()
    for r in readies:
        r.wait()
    go.set()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(n for _, _, n in spans) / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans))


def average_state_bytes(svc: ParcelService) -> int:
    notes = svc.recorder.select_notifications(start=None, limit=5000)
    return int(statistics.mean(len(n.state) for n in notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=2000,
                        help="parcels per measurement (scans = 11 x parcels)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel run")
    parser.add_argument("--naive-scans", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    tune_gc()  # as every parcelflow process does (see parcelflow/runtime.py)

    name = f"parcelflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0] + "/" + name
    t0 = (datetime.now(CST) - timedelta(days=2)).replace(microsecond=0)
    clock = Clock(t0 + timedelta(days=2))
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    warm = build_service(settings, clock=clock, cache_size=1_000_000)
    cold = build_service(settings, clock=clock, cache_size=0)

    def register(svc: ParcelService, work: Workload) -> None:
        # Manifests arrive before the parcels' first scans, as they do in the network.
        ingest_time, clock.now = clock.now, t0 - timedelta(hours=1)
        svc.register(work.manifests())
        clock.now = ingest_time

    try:
        print(f"database: {name} (PostgreSQL), {args.parcels} parcels x 11 scans per run")
        results: dict[tuple[str, int], float] = {}
        first = 1
        for batch in (1, 100, 1000):
            for label, svc in (("warm", warm), ("cold", cold)):
                work = Workload(first, args.parcels, t0)
                first += args.parcels
                register(warm, work)
                limit = 2000 if batch == 1 else len(work.scans)
                results[(label, batch)] = parcelflow_rate(svc, work, batch, limit)
        work = Workload(first, args.parcels, t0)
        first += args.parcels
        register(cold, work)
        naive = naive_rate(cold, work, args.naive_scans)
        two = parallel_rate(url, args.workers, first, args.parcels, t0)
        first += args.workers * args.parcels
        row_bytes = average_state_bytes(cold)
        rows = args.parcels * 11
        copies = {b: copy_rate(url, row_bytes, 2000 if b == 1 else rows, b) for b in (1, 100, 1000)}

        print(f"stored event size: {row_bytes} bytes on average\n")
        print(f"{'batch':>6} {'warm scans/s':>13} {'cold scans/s':>13} {'naive save/scan':>16} "
              f"{'raw COPY rows/s':>16} {'warm/naive':>11} {'warm/COPY':>10}")
        for batch in (1, 100, 1000):
            w, c = results[("warm", batch)], results[("cold", batch)]
            print(f"{batch:>6} {w:>13,.0f} {c:>13,.0f} {naive:>16,.0f} {copies[batch]:>16,.0f} "
                  f"{w / naive:>10.1f}x {w / copies[batch]:>9.2f}x")
        print(f"\n{args.workers} ingest processes side by side, batches of 1000, warm: {two:,.0f} scans/s "
              f"together")
        one = results[("warm", 1000)]
        print(f"target >= 10,000 scans/s batched: one process {one:,.0f} "
              f"({'met' if one >= 10_000 else 'not met'}), two processes {two:,.0f} "
              f"({'met' if two >= 10_000 else 'not met'})")
    finally:
        warm.close()
        cold.close()
        if not args.keep:
            with psycopg.connect(args.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
