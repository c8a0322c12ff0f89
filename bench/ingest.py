"""Ingest throughput against PostgreSQL: parcelflow's batched path, the library used
naively, and a raw COPY of the same rows (the limit).

    .venv/bin/python bench/ingest.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
                                     [--json FILE] [--profile DIR]
    .venv/bin/python bench/ingest.py --instructions [--scans 10000] [--runs 1]

Creates a throwaway database, registers parcels (not timed), then times scans flowing
through full journeys (pickup ... delivered), each batch holding the next scan of many
different parcels — what a hub's scanners send. "parcelflow" includes everything a real
ingest does: wire validation, dedup by scan_id, loading parcels, the timeline fold,
exception detection, hash chaining and the save. "warm" keeps parcels in the ingest
cache between batches (an ingest worker that owns its partitions); "cold" loads every
touched parcel from the store, in one query per batch.

The limit: the very rows the warm run stored (read back afterwards), COPYed in binary
into a bare table of the events table's shape, in transactions of the same batch size
(`physical_limits.copy_rows`). Every figure is printed as a fraction of it.

--instructions: a figure that does not move with the machine's load. A fixed ingest
(--scans scans, 1000 parcels registered first, batches of 1000, warm cache) runs in a
child process under `valgrind --tool=callgrind --instr-atstart=no`: nothing is counted
while the interpreter starts, imports, creates the database and registers the parcels.
Just before the first batch the child runs `callgrind_control -i on <its pid>` and
waits for it (callgrind's own switch, through its gdbserver), after the last batch
`callgrind_control -i off`; the instructions counted in between (callgrind's "Collected")
divided by the scans are the figure. Only this process's instructions count: the
PostgreSQL server's work for the same scans is not in it. The two switches' own cost
(a fork and a wait, ~0.4 M instructions, measured with nothing between them) is left
in: under 0.1% of the figure. PYTHONHASHSEED is fixed so that runs repeat; --runs N
repeats the child and prints the spread.
"""

from __future__ import annotations

import argparse
import json
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

import callgrind  # bench/callgrind.py
from figures import Figure, write  # noqa: E402  (bench/figures.py)
from physical_limits import copy_rows, head, stored_rows  # noqa: E402
from profiling import enable, profiled  # noqa: E402

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


def parcelflow_rate(svc: ParcelService, work: Workload, batch: int, limit: int,
                    profile: str | None = None) -> float:
    scans = work.scans[:limit]

    def run() -> None:
        for start in range(0, len(scans), batch):
            report = svc.ingest(scans[start:start + batch])
            assert report.accepted == len(scans[start:start + batch]), report.rejected[:1]

    if profile is None:
        return len(scans) / timed(run)
    with profiled(profile, items=len(scans), unit="scan"):
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


def create_database(admin_url: str) -> tuple[str, str]:
    name = f"parcelflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=2000,
                        help="parcels per measurement (scans = 11 x parcels)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel run")
    parser.add_argument("--naive-scans", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON rows")
    parser.add_argument("--profile", metavar="DIR",
                        help="profile the warm and cold batches of 1000 with py-spy into DIR")
    parser.add_argument("--instructions", action="store_true",
                        help="instructions per scan of a fixed ingest under callgrind")
    parser.add_argument("--scans", type=int, default=10_000, help="with --instructions")
    parser.add_argument("--runs", type=int, default=1, help="with --instructions")
    parser.add_argument("--callgrind-out", metavar="FILE",
                        help="with --instructions: keep the last run's callgrind output here "
                             "(for callgrind_annotate)")
    parser.add_argument("--instructions-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions_child:
        instructions_child(args.instructions_child, args.scans)
        return
    if args.instructions:
        instructions(args)
        return
    enable(args.profile)
    configure_logging(level="WARNING")
    tune_gc()  # as every parcelflow process does (see parcelflow/runtime.py)

    name, url = create_database(args.admin_url)
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
        written: dict[tuple[str, int], tuple[int, int]] = {}  # notification ids each run wrote
        first = 1
        for batch in (1, 100, 1000):
            for label, svc in (("warm", warm), ("cold", cold)):
                work = Workload(first, args.parcels, t0)
                first += args.parcels
                register(warm, work)
                limit = 2000 if batch == 1 else len(work.scans)
                before = head(url)
                results[(label, batch)] = parcelflow_rate(
                    svc, work, batch, limit, f"ingest-{label}" if batch == 1000 else None)
                written[(label, batch)] = (before, head(url))
        work = Workload(first, args.parcels, t0)
        first += args.parcels
        register(cold, work)
        naive = naive_rate(cold, work, args.naive_scans)
        two = parallel_rate(url, args.workers, first, args.parcels, t0) if args.workers else 0.0
        first += args.workers * args.parcels
        row_bytes = average_state_bytes(cold)
        # The limit: the warm run's own rows, COPYed raw in transactions of the same size.
        copies = {}
        for batch in (1, 100, 1000):
            rows = stored_rows(url, *written[("warm", batch)])
            copies[batch] = copy_rows(url, rows, batch)

        print(f"stored event size: {row_bytes} bytes on average\n")
        print(f"{'batch':>6} {'warm scans/s':>13} {'cold scans/s':>13} {'naive save/scan':>16} "
              f"{'raw COPY rows/s':>16} {'warm/COPY':>10} {'cold/COPY':>10}")
        for batch in (1, 100, 1000):
            w, c = results[("warm", batch)], results[("cold", batch)]
            print(f"{batch:>6} {w:>13,.0f} {c:>13,.0f} {naive:>16,.0f} {copies[batch]:>16,.0f} "
                  f"{w / copies[batch]:>9.2f}x {c / copies[batch]:>9.2f}x")
        if args.workers:
            print(f"\n{args.workers} ingest processes side by side, batches of 1000, warm: "
                  f"{two:,.0f} scans/s together ({two / copies[1000]:.2f} of one COPY stream)")
        copy = ("raw COPY of the same rows, 1000 a transaction", copies[1000], "rows/s")
        figures = [
            Figure("ingest_warm", "ingest, one process, batches of 1000, warm",
                   results[("warm", 1000)], "scans/s", *copy, target=">= 0.40 of COPY",
                   extra={"event_bytes": row_bytes}),
            Figure("ingest_cold", "ingest, cold (every parcel loaded from the store)",
                   results[("cold", 1000)], "scans/s", *copy, target=">= 0.15 of COPY"),
            Figure("ingest_warm_100", "ingest, one process, batches of 100, warm",
                   results[("warm", 100)], "scans/s",
                   "raw COPY of the same rows, 100 a transaction", copies[100], "rows/s"),
        ]
        if args.workers:
            figures.append(Figure("ingest_two_processes",
                                  f"ingest, {args.workers} processes side by side, warm", two,
                                  "scans/s", *copy))
        write(args.json, figures)
    finally:
        warm.close()
        cold.close()
        if not args.keep:
            drop_database(args.admin_url, name)


# ---- --instructions ---------------------------------------------------------------------

def instructions_child(url: str, scans: int) -> None:
    """Under callgrind: set up (not counted), then count exactly the ingest."""
    configure_logging(level="WARNING")
    tune_gc()
    parcels = 1000
    steps = -(-scans // parcels)
    t0 = (datetime.now(CST) - timedelta(days=2)).replace(microsecond=0)
    clock = Clock(t0 - timedelta(hours=1))
    svc = build_service(Settings(database_url=url, _env_file=None),  # type: ignore[call-arg]
                        clock=clock, cache_size=1_000_000)
    work = Workload(1, parcels, t0)
    svc.register(work.manifests())
    clock.now = t0 + timedelta(days=2)
    items = work.scans[:scans]
    assert steps <= 11 and len(items) == scans
    batches = [items[i:i + 1000] for i in range(0, len(items), 1000)]
    with callgrind.counting():
        for batch in batches:
            svc.ingest(batch)
    svc.close()


def instructions(args: argparse.Namespace) -> None:
    callgrind.require()
    counts = []
    for run in range(args.runs):
        name, url = create_database(args.admin_url)
        try:
            started = time.perf_counter()
            found, _ = callgrind.run(__file__, ["--instructions-child", url,
                                                "--scans", str(args.scans)],
                                     keep=args.callgrind_out)
            counts.append(found)
            print(f"run {run + 1}: {found:,} instructions for {args.scans:,} scans "
                  f"= {found / args.scans:,.0f} per scan "
                  f"({time.perf_counter() - started:.0f} s under callgrind)", flush=True)
        finally:
            drop_database(args.admin_url, name)
    per_scan = [c / args.scans for c in counts]
    spread = f" (runs: {min(per_scan):,.0f}-{max(per_scan):,.0f})" if len(counts) > 1 else ""
    print(f"instructions per scan, warm ingest of {args.scans:,} scans in batches of 1000: "
          f"{statistics.median(per_scan):,.0f}{spread}")
    write(args.json, [Figure("ingest_instructions", f"instructions per scan ({args.scans:,}-scan "
                             "warm ingest, callgrind)", statistics.median(per_scan),
                             "instructions/scan", lower_is_better=True, target="halve it",
                             extra={"runs": per_scan})])


if __name__ == "__main__":
    main()
