"""Projection throughput and lag against PostgreSQL.

    .venv/bin/python bench/projections.py [--parcels 20000] [--rates 2000,5000] [--seconds 20]
                                          [--json FILE] [--profile DIR]
                                          [--parts rebuild,lag] [--views tracking,...]

    (the tracking rebuild alone: --parts rebuild --views tracking --workers 1)

1. Rebuild: a simulated network day (--parcels parcels, their manifests and scans) is
   written to a throwaway database, by a child process (`load_day_apart`: the rebuild
   is then measured in a process that has not just loaded a day, like a user's); each
   projection is then rebuilt from the whole log, and its events/s printed.
2. Lag: `parcelflow project tracking --follow` runs as its own process (as in
   production) while this process ingests scans at a steady --rate for --seconds, in
   batches every 50 ms. For each batch, lag is the time from its commit to the moment
   the tracking view's recorded position reaches it (polled every 5 ms): what a
   customer looking up a parcel right after its scan would wait for. Twice per rate:
   with the follower running since before the run's parcels were registered (`_warm`:
   each parcel it reads a scan of is in its replica, as for a follower that has been
   running while its parcels were manifested and whose replica holds them), and with
   it started just after (each parcel's first scan loads the parcel and decrypts its
   receiver and sender: a follower just restarted, or one whose replica is smaller
   than the parcels in flight).
3. `--parts instructions` and `--parts follow`: a tracking rebuild's and a warm
   follower's instructions per event under callgrind, each next to its raw limit.
4. `--parts follow-steps`: the follow count's backlog timed in this process, step by
   journey step: the follower's `prepare` CPU a scan and `write_rows` wall time a row,
   beside the raw limit's wall time a row (`follow_steps`).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import re
from contextlib import contextmanager
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.projections import parallel  # noqa: E402
from parcelflow.projections.registry import PROJECTIONS, runner  # noqa: E402
from parcelflow.runtime import tune_gc, tune_threads_for_following  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from parcelflow.simulation import simulate  # noqa: E402
from tests.support.builders import journey, manifest, recent_start  # noqa: E402

import callgrind  # bench/callgrind.py
from figures import Figure, write  # noqa: E402  (bench/figures.py)
from physical_limits import NotifyWatch, notify_latency  # noqa: E402
from profiling import enable, profiled  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load_day(url: str, parcels: int) -> int:
    svc = build_service(Settings(database_url=url, _env_file=None), cache_size=parcels * 2)  # type: ignore[call-arg]
    sim = simulate(svc.network, parcels=parcels, now=svc.clock(), seed=11)
    started = time.perf_counter()
    for start in range(0, len(sim.manifests), 1000):
        svc.register(sim.manifests[start:start + 1000])
    for start in range(0, len(sim.scans), 1000):
        svc.ingest(sim.scans[start:start + 1000])
    svc.register(sim.late_manifests)
    head = svc.recorder.max_notification_id() or 0
    print(f"loaded {parcels} parcels, {len(sim.scans)} scans -> {head} events "
          f"in {time.perf_counter() - started:.1f} s")
    svc.close()
    return head


def _load_in_child(url: str, parcels: int) -> None:
    configure_logging(level="WARNING")
    tune_gc()  # as every parcelflow process does
    load_day(url, parcels)


def load_day_apart(url: str, parcels: int) -> None:
    """`load_day` in a process of its own, so that what is measured after it runs in a
    process like the one a user's `parcelflow rebuild` or `project` is: one that has
    not just loaded a day. A rebuild in the process that loaded the day used ~10% more
    CPU an event (4.85-4.89 against 4.40-4.49 s for the same 149,345 events, three runs
    each, main at 8f09b50). Collecting its garbage first made no difference
    (bench/profiles/README.md, phase 14), so it is likely the heap the load leaves
    behind (its freed parcels' memory, scattered); not found exactly."""
    child = multiprocessing.get_context("spawn").Process(
        target=_load_in_child, args=(url, parcels), name="load-day")
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"loading the day failed (exit code {child.exitcode})")


def rebuilds(url: str, workers: int, views: list[str] | None = None) -> list[Figure]:
    svc = build_service(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    figures = []
    for name in views or PROJECTIONS:
        r = runner(svc, name)
        for n in sorted({1, workers}):
            cpu = time.process_time()
            if n == 1:
                with profiled(f"rebuild-{name}", items=svc.recorder.max_notification_id() or 0,
                              unit="event") if name == "tracking" else _nothing():
                    events, seconds = r.rebuild()
            else:
                events, seconds = parallel.rebuild(r, url, workers=n)
            # This process's CPU (all its threads): what a one-process rebuild costs,
            # whatever else the machine is doing (the workers' is not counted).
            cpu = time.process_time() - cpu
            print(f"rebuild {name:<10} {n} process{'es' if n > 1 else '  '} {events:>8} events "
                  f"in {seconds:6.1f} s = {events / seconds:>8,.0f} events/s"
                  + (f"; CPU {cpu:.2f} s = {cpu / events * 1e6:.1f} us/event" if n == 1 else ""))
            if n == 1:
                limit = rebuild_limit(url, svc, PROJECTIONS[name].store.tables, events)
                print(f"        limit: read the same events raw and COPY the same rows: "
                      f"{limit:,.0f} events/s")
                figures.append(Figure(
                    f"rebuild_{name}", f"{name} rebuild, one process", events / seconds,
                    "events/s", "raw read of the same events + raw COPY of the same rows",
                    limit, "events/s", target=">= 30,000 events/s" if name == "tracking" else ""))
        r.close()
    svc.close()
    return figures


def rebuild_limit(url: str, svc, tables: tuple[str, ...], events: int) -> float:  # type: ignore[no-untyped-def]
    """Events/s of the least a rebuild must do: read every parcel's events (2000 parcels
    to a query, as the rebuild does, binary rows, nothing decoded) and write the rows the
    rebuild wrote (COPY into bare copies of the view's tables, 2000 to a transaction)."""
    upto = svc.recorder.max_notification_id() or 0
    ids = svc.recorder.parcel_ids(upto)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        with conn.cursor(binary=True) as cur:
            for i in range(0, len(ids), 2000):
                cur.execute("SELECT originator_id, originator_version, topic, state "
                            "FROM parcelflow_events WHERE originator_id = ANY(%s) "
                            "AND notification_id <= %s ORDER BY originator_id, originator_version",
                            (ids[i:i + 2000], upto))
                cur.fetchall()
        read = time.perf_counter() - started
        written = 0.0
        for table in tables:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            copy_table = f"limit_{table}_{uuid.uuid4().hex[:6]}"
            conn.execute(f"CREATE TABLE {copy_table} (LIKE {table} INCLUDING ALL)")
            try:
                started = time.perf_counter()
                for i in range(0, len(rows), 2000):
                    with conn.transaction(), conn.cursor() as cur, cur.copy(
                            f"COPY {copy_table} FROM STDIN") as copy:
                        for row in rows[i:i + 2000]:
                            copy.write_row(row)
                written += time.perf_counter() - started
            finally:
                conn.execute(f"DROP TABLE {copy_table}")
    return events / (read + written)


@contextmanager
def _nothing():  # type: ignore[no-untyped-def]
    yield


def lag(url: str, rate: int, seconds: float, first: int, *, profile: bool = False,
        warm: bool = False) -> Figure:
    """`warm`: the follower runs from before the parcels are registered, as one running
    in production does, so each parcel scanned is in its replica (its registration
    applied, its receiver and sender opened). Otherwise it starts after, as one
    restarted does: each parcel's first scan has it loaded from the store and its
    parties decrypted (every parcel's first scan is in the run's first seconds)."""
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    svc = build_service(settings, cache_size=200_000)
    tracking = runner(svc, "tracking")
    tracking.run()  # start level with the log
    batch = max(1, rate // 20)  # one batch every 50 ms
    parcels = max(batch, int(rate * seconds / 11) + batch)
    t0 = recent_start()
    numbers = range(first, first + parcels)
    journeys = [journey(n, t0=t0) for n in numbers]
    scans = [j[step] for step in range(11) for j in journeys]

    env = {**os.environ, "PARCELFLOW_DATABASE_URL": url, "PARCELFLOW_LOG_LEVEL": "WARNING",
           # A throwaway database seeded without master keys (issue 12 requires them
           # in production): the long-running commands run as a development run.
           "PARCELFLOW_DEVELOPMENT": "true"}

    def start_projector() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "parcelflow", "project", "tracking",
                                 "--follow"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    projector = start_projector() if warm else None
    for start in range(0, parcels, 1000):
        svc.register([manifest(n) for n in numbers[start:start + 1000]])
    if projector is None:
        tracking.run()
        projector = start_projector()
    else:  # the follower reads the registrations itself
        head = svc.recorder.max_notification_id() or 0
        deadline = time.monotonic() + 120
        while tracking.position < head:
            if time.monotonic() > deadline or projector.poll() is not None:
                projector.kill()
                raise SystemExit("the follower did not catch up with the registrations")
            time.sleep(0.05)
    # The set-up's objects (every journey, the service's cache) are never collected
    # again, as `tune_gc` does for a worker's start-up: left young, they made this
    # process's own collections pause it for 0.1-1.5 s during the run (seen with
    # gc.callbacks), and the stopwatch thread below with it, adding the pause to the
    # lag of every batch it was about to see.
    gc.collect()
    gc.freeze()

    written: list[tuple[int, float]] = []
    lags: list[float] = []
    done = threading.Event()
    notifies = NotifyWatch(url)
    committed: list[float] = []  # wall-clock commit times, for the NOTIFY floor

    def watch() -> None:
        seen = 0
        while not done.is_set() or seen < len(written):
            position = tracking.position
            now = time.perf_counter()
            while seen < len(written) and written[seen][0] <= position:
                lags.append(now - written[seen][1])
                seen += 1
            time.sleep(0.005)

    try:
        time.sleep(2.0)  # let the projector start and catch up
        watcher = threading.Thread(target=watch)
        watcher.start()
        with profiled(f"projection-lag-{rate}", pid=projector.pid, items=min(len(scans), int(rate * seconds)),
                      unit="scan") if profile else _nothing():
            started = time.perf_counter()
            sent = 0
            tick = started
            while time.perf_counter() - started < seconds and sent < len(scans):
                report = svc.ingest(scans[sent:sent + batch])
                sent += batch
                if report.position:
                    written.append((report.position, time.perf_counter()))
                    committed.append(time.time())
                tick += batch / rate
                pause = tick - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            elapsed = time.perf_counter() - started
            done.set()
            watcher.join(timeout=30)
    finally:
        notifies.close()
        projector.terminate()
        projector.wait(timeout=20)
        tracking.close()
        svc.close()
    ms = [x * 1000 for x in lags]
    floor = notify_latency(committed, notifies.arrivals)
    how = ("follower running since before the parcels were registered" if warm else
           "follower started after the parcels were registered")
    print(f"lag ({how}) at {sent / elapsed:,.0f} scans/s ingest for {elapsed:.0f} s "
          f"({len(ms)} batches of {batch}): p50 {percentile(ms, 0.5):.0f} ms, "
          f"p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms, "
          f"mean {statistics.mean(ms):.0f} ms; bare LISTEN saw each commit's NOTIFY after "
          f"p50 {floor['p50']:.1f} ms, p99 {floor['p99']:.1f} ms")
    print(f"target: p99 < 500 ms at 5,000 scans/s -> at {rate}: "
          f"{'met' if percentile(ms, 0.99) < 500 and sent / elapsed >= rate * 0.95 else 'NOT met'}")
    return Figure(f"projection_lag_{rate}{'_warm' if warm else ''}",
                  f"projection lag p99 under steady ingest at {rate:,} scans/s, {how}",
                  percentile(ms, 0.99), "ms", "commit -> NOTIFY seen by a bare LISTEN, p99",
                  floor["p99"], "ms", lower_is_better=True, target="< 500 ms at 5,000 scans/s",
                  extra={"achieved_scans_per_s": round(sent / elapsed), "p50_ms": round(percentile(ms, 0.5), 1),
                         "max_ms": round(max(ms), 1), "floor_p50_ms": round(floor["p50"], 2)})


FOLLOW_PARCELS = 1000  # parcels of the follow count: 11,000 scans
FOLLOW_BATCH = 250  # what a follower reads per batch at 5,000 scans/s (a commit every 50 ms)


def follow_backlog(svc, r) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The follower's steady state, set up: FOLLOW_PARCELS new parcels registered and
    the view (and its replica, warm) caught up with them; then their journeys' scans
    ingested step by step (every parcel's pickup, then every parcel's departure, ...),
    as a network's day reaches the log: each batch the follower reads touches
    FOLLOW_BATCH different parcels, each already in its replica. (first, last
    notification id of the backlog.)"""
    first = 8_000_000 + (svc.recorder.max_notification_id() or 0)  # new numbers each run
    numbers = range(first, first + FOLLOW_PARCELS)
    svc.register([manifest(n) for n in numbers])
    r.run()
    start = r.position
    journeys = [journey(n, t0=recent_start()) for n in numbers]
    scans = [j[step] for step in range(11) for j in journeys]
    for i in range(0, len(scans), 1000):
        svc.ingest(scans[i:i + 1000])
    return start, svc.recorder.max_notification_id() or 0


def follow_limit(url: str, table: str, start: int, end: int) -> None:
    """The least a follower must do for the same backlog: read its notifications raw,
    FOLLOW_BATCH to a query (binary rows, nothing decoded), and upsert as many rows per
    batch as the batch touched parcels (COPY into a staging table, one INSERT ... ON
    CONFLICT, one transaction), the rows being the view's own as they ended."""
    with psycopg.connect(url) as conn, conn.cursor(binary=True) as cur:
        conn.execute(f"CREATE TEMP TABLE limit_staging (LIKE {table} INCLUDING DEFAULTS)")
        rows = {r[1]: r for r in conn.execute(f"SELECT * FROM {table}").fetchall()}  # by parcel_id
        columns = [d.name for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "tracking_no")
        conn.commit()
        for low in range(start, end, FOLLOW_BATCH):
            cur.execute("SELECT notification_id, originator_id, originator_version, topic, state "
                        "FROM parcelflow_events WHERE notification_id > %s AND "
                        "notification_id <= %s ORDER BY notification_id",
                        (low, min(end, low + FOLLOW_BATCH)))
            touched = {str(n[1]) for n in cur.fetchall()}
            with cur.copy("COPY limit_staging FROM STDIN") as copy:
                for pid in touched:
                    if pid in rows:
                        copy.write_row(rows[pid])
            cur.execute(f"INSERT INTO {table} SELECT * FROM limit_staging "
                        f"ON CONFLICT (tracking_no) DO UPDATE SET {updates}")
            cur.execute("TRUNCATE limit_staging")
            conn.commit()


def instructions_child(url: str, what: str) -> None:
    """Under callgrind: set up (not counted), then count exactly one tracking rebuild
    (`what` "rebuild") or its limit, the same events read raw and the rows it wrote
    copied raw (`rebuild_limit`, after a rebuild that is not counted)."""
    configure_logging(level="WARNING")
    tune_gc()
    if what.startswith("follow"):
        tune_threads_for_following()  # as `parcelflow project --follow` does
    svc = build_service(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    r = runner(svc, "tracking")
    events = svc.recorder.max_notification_id() or 0
    if what in ("follow", "follow-cold", "follow-limit"):
        start, end = follow_backlog(svc, r)
        events = end - start
        if what == "follow-cold":  # a follower just started: nothing in its replica
            r.close()
            r = runner(svc, "tracking")
        if what != "follow-limit":
            with callgrind.counting():
                followed = r.run(batch_size=FOLLOW_BATCH)
            assert followed == events, (followed, events)
        else:
            r.run(batch_size=FOLLOW_BATCH)  # the rows the limit writes
            with callgrind.counting():
                follow_limit(url, "tracking_view", start, end)
    elif what == "limit":
        r.rebuild()  # the rows the limit copies
        with callgrind.counting():
            rebuild_limit(url, svc, PROJECTIONS["tracking"].store.tables, events)
    else:
        with callgrind.counting():
            replayed, _ = r.rebuild()
        assert replayed == events, (replayed, events)
    print(f"EVENTS {events}", file=sys.stderr)
    r.close()
    svc.close()


def counted(url: str, what: str) -> tuple[int, int]:
    """(instructions, events) of `instructions_child(url, what)` under callgrind."""
    found, done = callgrind.run(__file__, ["--instructions-child", url, "--parts", what])
    events = re.search(r"EVENTS (\d+)", done.stderr)
    assert events, done.stderr[-2000:]
    return found, int(events.group(1))


def instructions_figure(url: str, work: str, limit: str, key: str, path: str,
                        said: str, limit_name: str) -> Figure:
    """`work` and its `limit` (child parts) counted under callgrind, per event, printed
    (`said`: what was counted) and as a figure."""
    callgrind.require()
    started = time.perf_counter()
    instructions, events = counted(url, work)
    least, _ = counted(url, limit)
    print(f"{said} under callgrind: {instructions:,} instructions for {events:,} events = "
          f"{instructions / events:,.0f} per event; {limit_name}: {least / events:,.0f} per "
          f"event ({time.perf_counter() - started:.0f} s)")
    return Figure(key, path, instructions / events, "instructions/event", limit_name,
                  least / events, "instructions/event", lower_is_better=True,
                  extra={"events": events})


def rebuild_instructions(url: str) -> Figure:
    return instructions_figure(
        url, "rebuild", "limit", "rebuild_tracking_instructions",
        "tracking rebuild, one process, instructions per event (callgrind)",
        "tracking rebuild", "the same events read raw + the same rows copied raw")


def follow_instructions(url: str) -> Figure:
    return instructions_figure(
        url, "follow", "follow-limit", "follow_tracking_instructions",
        f"tracking view following (batches of {FOLLOW_BATCH}, each parcel in its replica), "
        "instructions per event (callgrind)",
        f"tracking view following in batches of {FOLLOW_BATCH}",
        "the same notifications read raw + as many rows upserted raw")


def follow_steps(url: str) -> Figure:
    """The follow count's backlog, timed in this process, per journey step: the
    follower's `prepare` (CPU of its thread a scan) and `write_rows` (wall time a row, on
    the runner's commit thread beside the next batch's `prepare`), next to the raw limit
    for the same backlog (`follow_limit`: reads, COPY, one upsert, single-threaded)."""
    tune_threads_for_following()  # as `parcelflow project --follow` does
    svc = build_service(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    r = runner(svc, "tracking")
    start, end = follow_backlog(svc, r)
    projection, view = r.projection, r.projection.view
    prepares: list[tuple[float, int]] = []
    writes: list[tuple[float, int]] = []
    prepare, write_rows = projection.prepare, view.write_rows

    def timed_prepare(events):  # type: ignore[no-untyped-def]
        started = time.thread_time()
        rows = prepare(events)
        prepares.append((time.thread_time() - started, len(events)))
        return rows

    def timed_write(rows, tracking):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        write_rows(rows, tracking)
        writes.append((time.perf_counter() - started, len(rows)))

    projection.prepare, view.write_rows = timed_prepare, timed_write  # type: ignore[method-assign]
    followed = r.run(batch_size=FOLLOW_BATCH)
    r.close()
    svc.close()
    started = time.perf_counter()
    follow_limit(url, "tracking_view", start, end)
    limit = (time.perf_counter() - started) / followed * 1e6
    per = len(prepares) // 11
    print(f"follow steps ({followed:,} scans of {FOLLOW_PARCELS:,} parcels, batches of "
          f"{FOLLOW_BATCH}): step, prepare CPU us a scan, write_rows wall us a row")
    totals = []
    for step in range(11):
        p, w = prepares[step * per:(step + 1) * per], writes[step * per:(step + 1) * per]
        cpu = sum(a for a, _ in p) / max(1, sum(b for _, b in p)) * 1e6
        wall = sum(a for a, _ in w) / max(1, sum(b for _, b in w)) * 1e6
        totals.append(wall)
        print(f"  {step + 1:2d}  {cpu:6.1f}  {wall:6.1f}")
    print(f"  raw limit for the same backlog: {limit:.1f} us a row")
    return Figure("follow_write_wall_us", "tracking view following, write_rows wall time a "
                  f"row (batches of {FOLLOW_BATCH})", round(statistics.mean(totals), 1), "µs",
                  "the same notifications read raw + as many rows upserted raw, a row",
                  round(limit, 1), "µs", lower_is_better=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=20_000)
    parser.add_argument("--rates", default="2000,5000", help="scans/s during the lag tests")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel rebuild")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--profile", metavar="DIR")
    parser.add_argument("--parts", default="rebuild,lag",
                        help="rebuild, lag, instructions, follow, follow-steps (comma-separated)")
    parser.add_argument("--instructions-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--views", default="", help=f"rebuild only these ({','.join(PROJECTIONS)})")
    args = parser.parse_args()
    if args.instructions_child:
        instructions_child(args.instructions_child, args.parts)
        return
    parts = set(args.parts.split(","))
    views = [v for v in args.views.split(",") if v]
    unknown = (parts - {"rebuild", "lag", "instructions", "follow", "follow-steps"}) | (set(views) - set(PROJECTIONS))
    if unknown:
        parser.error(f"unknown part or view: {', '.join(sorted(unknown))}")
    enable(args.profile)
    rates = [int(r) for r in args.rates.split(",")]
    configure_logging(level="WARNING")
    tune_gc()  # as every parcelflow process does
    name = f"parcelflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        print(f"database: {name} (PostgreSQL)")
        load_day_apart(url, args.parcels)
        figures = rebuilds(url, args.workers, views) if "rebuild" in parts else []
        if "instructions" in parts:
            figures.append(rebuild_instructions(url))
        if "follow" in parts:
            figures.append(follow_instructions(url))
        if "follow-steps" in parts:
            figures.append(follow_steps(url))
        first = 9_000_000
        for rate in rates if "lag" in parts else []:
            for warm in (True, False):
                figures.append(lag(url, rate, args.seconds, first=first, warm=warm,
                                   profile=rate == max(rates) and not warm))
                first += int(rate * args.seconds / 11) + rate
        write(args.json, figures)
    finally:
        if not args.keep:
            with psycopg.connect(args.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
