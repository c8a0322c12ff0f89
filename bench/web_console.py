"""The staff console's exception queue under load, with 10,000 open exceptions: the live
part every open console fetches every 5 s (`GET /console/queue/rows`) and the whole
page (`GET /console/queue`), from `parcelflow serve` on PostgreSQL, driven from this
process over loopback (bench/api.py's client and driver).

    .venv/bin/python bench/web_console.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
                                          [--exceptions 10000] [--requests 2000]
                                          [--clients 4] [--workers 1] [--json FILE]

Seeding (not timed): a throwaway database, as many parcels as exceptions, each picked up
and scanned damaged (one open exception each), the read models projected, a staff
credential and a console session opened for it (the session cookie is sent by every
request, so each one is checked as a browser's is: session, credential, role).

Closed loop: `--clients` persistent connections as fast as they are answered; p50/p99
are each request's own time. The limit, measured in the same run from this process:
the queue's own SELECT (its first 200 rows in working order, what a page shows) with
a bare prepared statement, one round trip each, from as many clients: what the database
alone gives before any rendering, session check or HTTP.

The client shares the machine's two cores with the server and PostgreSQL, so the
figures are a floor.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# A throwaway database with made-up parcels: a development run (no master keys needed).
os.environ.setdefault("PARCELFLOW_DEVELOPMENT", "true")

from parcelflow.adapters.credentials import Kind, Role  # noqa: E402
from parcelflow.adapters.staff_sessions import StaffSessions  # noqa: E402
from parcelflow.api.app import credential_store  # noqa: E402
from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.projections.registry import runner  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from parcelflow.web.console.session import SESSION_COOKIE  # noqa: E402
from tests.support.builders import journey, manifest, scan  # noqa: E402

from api import (drive, drop_scratch, quiet_collector,  # noqa: E402  (bench/api.py)
                 scratch_database, start_server)
from figures import Figure, write  # noqa: E402  (bench/figures.py)
from physical_limits import bare_selects  # noqa: E402

CST = timezone(timedelta(hours=8))
QUEUE_SELECT = ("SELECT * FROM exception_queue WHERE status <> %s ORDER BY priority DESC, "
                "escalation_level DESC, next_due ASC, exception_id LIMIT 200")


def seed(url: str, exceptions: int, t0: datetime) -> str:
    """Parcels with one open exception each, projected; a console session's cookie."""
    configure_logging("json", "WARNING")
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    svc = build_service(settings, cache_size=0)
    try:
        for start in range(1, exceptions + 1, 500):
            numbers = range(start, min(start + 500, exceptions + 1))
            svc.register([manifest(n) for n in numbers])
            svc.ingest([s for n in numbers for s in (
                journey(n, t0=t0)[0],
                scan("exception", "SZX-OUT-07", 0.5, n, t0=t0, exception_code="damaged"))])
        for name in ("exceptions", "tracking"):
            r = runner(svc, name)
            r.run()
            r.close()
        issued = credential_store(svc, settings).create(Kind.STAFF, "bench-agent",
                                                        role=Role.CS_AGENT)
        sessions = StaffSessions(svc.factory.datastore,  # type: ignore[attr-defined]
                                 idle=settings.console_session_idle.total_seconds())
        session_id, _ = sessions.start(issued.credential.key_id)
        return session_id
    finally:
        svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--exceptions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000, help="per measurement")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    name, url, log = scratch_database(args.admin_url)
    t0 = (datetime.now(CST) - timedelta(days=1)).replace(microsecond=0)
    server = None
    figures: list[Figure] = []
    try:
        print(f"database: {name} (PostgreSQL); seeding {args.exceptions} open exceptions ...",
              flush=True)
        cookie = {"Cookie": f"{SESSION_COOKIE}={seed(url, args.exceptions, t0)}"}
        with psycopg.connect(url) as conn:
            [(open_now,)] = conn.execute(
                "SELECT COUNT(*) FROM exception_queue WHERE status <> 'resolved'").fetchall()
        server = start_server(url, args.port, args.workers, log)
        print(f"{open_now} open exceptions; parcelflow serve: {args.workers} worker(s) on "
              f"127.0.0.1:{args.port}, driven from this process (pid {os.getpid()})\n")
        quiet_collector()
        warm = [("GET", "/console/queue/rows", None, cookie)] * 50
        drive(args.port, warm, args.clients)
        bare = bare_selects(url, ["resolved"] * args.requests, clients=args.clients,
                            statement=QUEUE_SELECT)
        print(f"{'what':<44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for key, label, path in (
                ("console_queue_rows", "GET /console/queue/rows (the live part)",
                 "/console/queue/rows"),
                ("console_queue_page", "GET /console/queue (the whole page)", "/console/queue")):
            done = drive(args.port, [("GET", path, None, cookie)] * args.requests, args.clients)
            assert done["errors"] == 0, f"{done['errors']} answers were not 200; see {log}"
            print(f"{label:<44} {done['rate']:>8.0f} {done['p50']:>8.1f} {done['p99']:>8.1f}")
            figures.append(Figure(key, label, done["rate"], "req/s",
                                  "the queue's SELECT, bare", bare["rate"], "req/s",
                                  extra={"p50_ms": done["p50"], "p99_ms": done["p99"],
                                         "clients": args.clients, "open": open_now}))
        label = "limit: the queue's SELECT, bare (200 rows)"
        print(f"{label:<44} {bare['rate']:>8.0f} {bare['p50']:>8.1f} {bare['p99']:>8.1f}")
        write(args.json, figures)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        drop_scratch(args.admin_url, name, log)


if __name__ == "__main__":
    main()
