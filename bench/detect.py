"""One detector pass over a million parcels in the read models, on PostgreSQL.

    .venv/bin/python bench/detect.py [--rows 1000000] [--flagged 5000]
                                     [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
                                     [--json FILE] [--profile DIR]

Creates a throwaway database and fills it (none of this is timed):

- `--flagged` real parcels, registered and scanned through the service (so the
  detectors can load them and append to their event streams), each in a state a
  detector must act on: quiet past the stall limit (40%), silent for the
  complete-delay period (20%: stalled and lost), past their promised time (20%, half
  of them with an ETA gone by too), left at a pickup point beyond the hold (10%), or
  with a customer-facing exception nobody answered within the hour (10%). The tracking
  view and the exception queue are built for them by the real projections.
- background rows, up to `--rows` in the tracking view in all, written with COPY, with
  a realistic mix: ~62% delivered, ~31% on the move (picked up, at a facility, in
  transit, out for delivery, failed attempt, in customs, returning, at a pickup point),
  5% registered and not yet picked up, the rest returned, cancelled or lost; service
  levels economy/standard/express/same-day 20/55/20/5%. Every row carries a real
  rendered timeline (the size of the rows matters to the scans). None of them needs
  action at the pass's time (scanned within the limits, promises ahead). Plus 50,000
  background exception-queue rows (open ones not yet due, and resolved ones).

Then it times `Detectors.run_pass()` at a fixed time, which is everything a pass does:
catching the two views up to the log (nothing to do on the first pass), the SQL
queries over tracking_view and exception_queue, loading each flagged parcel from the
event store (one query per 500), the domain's decisions, and saving the exceptions,
revised ETAs and SLA breaches it records (one transaction per 500 parcels). It prints
that wall time, how many parcels the queries returned and what was raised. Then a
second pass at the same time (which first projects the first pass's events into the
views and then finds nothing new), and a third (nothing at all to do: the floor, the
queries alone).

The limit of passes 1 and 2 is pass 3, measured in the same run: the same SQL over
the same million rows with nothing to load, decide, save or catch up. With
--profile, passes 1 and 2 run under py-spy (this process, every thread).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.application.detectors import Detectors, PassReport  # noqa: E402
from parcelflow.application.exceptions import ExceptionWorkflow  # noqa: E402
from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.domain.vocabulary import ExceptionCode  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.projections import exception_queue, tracking_view  # noqa: E402
from parcelflow.projections.registry import runner  # noqa: E402
from parcelflow.projections.watchlist import Watchlist  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import journey, manifest, scan, tracking  # noqa: E402

from figures import Figure, write  # noqa: E402  (bench/figures.py)
from profiling import enable, profiled  # noqa: E402

UTC = timezone.utc


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def utc(moment: datetime | None) -> str | None:
    return tracking_view.utc(moment)


def real_parcels(svc, clock: Clock, now: datetime, count: int) -> dict[str, int]:
    """Parcels a pass must act on, through the real service."""
    rng = random.Random(7)
    far = (now + timedelta(days=10)).isoformat()
    kinds = {"stalled": 0.4, "lost": 0.2, "delayed": 0.2, "pickup_missed": 0.1, "sla": 0.1}
    plan, n = [], 1
    for kind, share in kinds.items():
        for _ in range(int(count * share)):
            plan.append((kind, n))
            n += 1
    manifests, scans, unanswered = [], [], []
    for kind, n in plan:
        if kind == "stalled":
            t0 = now - timedelta(hours=rng.uniform(55, 120))
            manifests.append(manifest(n, promised_by=far))
            scans += journey(n, t0=t0)[:5]
        elif kind == "lost":
            t0 = now - timedelta(days=8, hours=rng.uniform(0, 48))
            manifests.append(manifest(n, promised_by=far))
            scans += journey(n, t0=t0)[:5]
        elif kind == "delayed":
            t0 = now - timedelta(hours=rng.choice([10, 40]))
            manifests.append(manifest(n, promised_by=(now - timedelta(hours=1)).isoformat()))
            scans += journey(n, t0=t0)[:5]
        elif kind == "pickup_missed":
            t0 = now - timedelta(days=4, hours=24)
            manifests.append(manifest(n, promised_by=far))
            scans += journey(n, t0=t0)[:8] + [
                scan("arrival", "SHA-PP-01", 23, n, t0=t0),
                scan("held_at_pickup_point", "SHA-PP-01", 23.5, n, t0=t0)]
        else:
            manifests.append(manifest(n, promised_by=far))
            scans += journey(n, t0=now - timedelta(hours=10))[:5]
            unanswered.append(n)
    clock.now = now - timedelta(hours=2)
    for start in range(0, len(manifests), 1000):
        svc.register(manifests[start:start + 1000])
    for start in range(0, len(scans), 1000):
        report = svc.ingest(scans[start:start + 1000])
        assert not report.rejected, report.rejected[:1]
    workflow = ExceptionWorkflow(svc)
    for n in unanswered:  # raised two hours ago; the first response was due in one
        workflow.raise_exception(tracking(n), ExceptionCode.DAMAGED, by="hub-lead")
    clock.now = now
    return {kind: sum(1 for k, _ in plan if k == kind) for kind in kinds}


def background(conn: psycopg.Connection, template_rows: list[dict], rows: int,
               now: datetime) -> None:
    """COPY `rows` parcels that need no action at `now` into the tracking view."""
    rng = random.Random(11)
    statuses = [("delivered", 62), ("in_transit", 9), ("at_facility", 11), ("picked_up", 3),
                ("out_for_delivery", 3), ("delivery_failed", 1), ("in_customs", 0.5),
                ("returning", 0.5), ("awaiting_pickup", 2), ("registered", 5), ("returned", 1.5),
                ("cancelled", 1), ("lost", 0.5)]
    names, weights = zip(*statuses)
    levels = rng.choices(["economy", "standard", "express", "same_day"], [20, 55, 20, 5], k=rows)
    picks = rng.choices(names, weights, k=rows)
    columns = tracking_view.COLUMNS
    with conn.cursor() as cur, cur.copy(
            f"COPY tracking_view ({', '.join(columns)}) FROM STDIN") as copy:
        for i in range(rows):
            status = picks[i]
            template = template_rows[i % len(template_rows)]
            quiet = timedelta(hours=rng.uniform(0, 20))  # within every stall limit
            if status == "awaiting_pickup":
                quiet = timedelta(hours=rng.uniform(0, 60))  # within the 3-day hold
            last = now - quiet if status != "registered" else None
            promised = now + timedelta(hours=rng.uniform(2, 96))
            if status in ("delivered", "returned", "cancelled", "lost"):
                last = now - timedelta(hours=rng.uniform(0, 400))
                promised = last + timedelta(hours=rng.uniform(-24, 48))
            eta = None if status in ("delivered", "returned", "cancelled", "lost", "registered",
                                     "awaiting_pickup") \
                else promised - timedelta(hours=rng.uniform(0.5, 20))
            number = f"PB{i:013d}"
            row = dict(template, tracking_no=number, parcel_id=str(uuid.UUID(int=i + 1)),
                       status=status, service_level=levels[i], last_scan_at=utc(last),
                       last_event_at=utc(last), promised_by=utc(promised), eta=utc(eta),
                       delivered_at=utc(last) if status == "delivered" else None,
                       open_exceptions=0)
            copy.write_row([row[c] for c in columns])
    conn.commit()


def background_queue(conn: psycopg.Connection, rows: int, now: datetime) -> None:
    rng = random.Random(13)
    columns = exception_queue.COLUMNS
    codes = ["damaged", "recipient_absent", "address_issue", "misdirected", "weather", "delayed"]
    with conn.cursor() as cur, cur.copy(
            f"COPY exception_queue ({', '.join(columns)}) FROM STDIN") as copy:
        for i in range(rows):
            raised = now - timedelta(minutes=rng.uniform(1, 50))
            resolved = rng.random() < 0.7
            if resolved:
                raised = now - timedelta(hours=rng.uniform(2, 400))
            row = {c: None for c in columns}
            row.update(
                exception_id=f"bg-{i}", tracking_no=f"PB{rng.randrange(900_000):013d}",
                parcel_id="p", code=rng.choice(codes), severity="medium", team="hub",
                customer_facing=1, customer_tier="standard", priority=4,
                status="resolved" if resolved else "open", auto=1, detail="", facility="X",
                occurred_at=utc(raised), raised_at=utc(raised), raised_by="system",
                first_response_due=utc(raised + timedelta(hours=1)),
                resolution_due=utc(raised + timedelta(hours=24)),
                next_due=None if resolved else utc(raised + timedelta(hours=1)),
                resolved_at=utc(raised + timedelta(hours=3)) if resolved else None,
                acknowledged_at=utc(raised + timedelta(minutes=20)) if resolved else None,
                occurrence=f"bg-{i}", handovers=0, contacts=0, escalation_level=0, reopen_count=0,
                complaints="[]", claims="[]", clock_basis="calendar", calendar="")
            copy.write_row([row[c] for c in columns])
    conn.commit()


def show(name: str, report: PassReport) -> None:
    data = report.to_json()
    print(f"{name}: {report.seconds:.2f} s wall — catch-up {report.catch_up_seconds:.2f} s, "
          f"queries {report.query_seconds:.2f} s, loading + deciding + saving "
          f"{report.seconds - report.catch_up_seconds - report.query_seconds:.2f} s; "
          f"{report.candidates} candidate parcels, {report.flagged} changed; raised "
          f"{data['raised'] or 'nothing'}; ETAs revised {report.eta_revised}; SLA breaches "
          f"{data['sla_breaches'] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--flagged", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--profile", metavar="DIR")
    args = parser.parse_args()
    enable(args.profile)
    configure_logging("console", "WARNING")

    name = f"parcelflow_bench_detect_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    now = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(now)
    svc = build_service(Settings(database_url=url, _env_file=None), clock=clock,  # type: ignore[call-arg]
                        cache_size=0)
    try:
        started = time.perf_counter()
        kinds = real_parcels(svc, clock, now, args.flagged)
        for view in ("tracking", "exceptions"):
            r = runner(svc, view)
            r.run()
            r.close()
        with psycopg.connect(url) as conn:
            template = [dict(r) for r in conn.cursor(row_factory=psycopg.rows.dict_row).execute(
                "SELECT * FROM tracking_view LIMIT 200")]
            background(conn, template, args.rows - args.flagged, now)
            background_queue(conn, 50_000, now)
            conn.execute("ANALYZE tracking_view")
            conn.execute("ANALYZE exception_queue")
            total = conn.execute("SELECT COUNT(*) FROM tracking_view").fetchone()[0]
            size = conn.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('tracking_view'))").fetchone()[0]
        print(f"set-up: {total:,} parcels in tracking_view ({size}), of them "
              f"{args.flagged:,} real parcels needing action {kinds}; "
              f"{time.perf_counter() - started:.0f} s (not timed)")

        watchlist = Watchlist(svc)
        detectors = Detectors(svc, watchlist)
        with profiled("detect-pass-1", items=args.rows, unit="parcel"):
            first = detectors.run_pass(now)
        show("pass 1 (finds and raises)", first)
        with profiled("detect-pass-2", items=args.rows, unit="parcel"):
            second = detectors.run_pass(now)
        show("pass 2 (projects pass 1's events, then finds nothing new)", second)
        third = detectors.run_pass(now)
        show("pass 3 (nothing to do: the queries alone)", third)
        watchlist.close()
        floor = ("pass 3 over the same rows: the queries alone", third.seconds, "s")
        write(args.json, [
            Figure("detect_pass_1", f"detector pass over {args.rows:,} parcels, first pass",
                   first.seconds, "s", *floor, lower_is_better=True, target="< 5 s every pass",
                   extra={"catch_up_s": round(first.catch_up_seconds, 2),
                          "queries_s": round(first.query_seconds, 2),
                          "candidates": first.candidates, "flagged": first.flagged}),
            Figure("detect_pass_2", f"detector pass over {args.rows:,} parcels, second pass",
                   second.seconds, "s", *floor, lower_is_better=True, target="< 5 s every pass",
                   extra={"catch_up_s": round(second.catch_up_seconds, 2),
                          "queries_s": round(second.query_seconds, 2)}),
        ])
    finally:
        svc.close()
        if not args.keep:
            with psycopg.connect(args.admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {url}")


if __name__ == "__main__":
    main()
