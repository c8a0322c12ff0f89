"""`verify --all` and `checkpoint` over a million events, on PostgreSQL, in events/s.

    .venv/bin/python bench/verify.py [--events 1000000]
                                     [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a throwaway database and fills it through the service (not timed): parcels
registered from manifests and scanned along a full journey (12 events each: the
registration and eleven scans, outlet to doorstep), in batches of 1000, until the log
holds `--events` events. Then it times, each on the whole log:

1. the chain walk alone (`verify_all`: every event decoded and its link and hash
   checked), which is what `verify --all` did before checkpoints;
2. the first checkpoint (every event walked from genesis, every head anchored, the
   Merkle tree built and signed, the heads written);
3. `verify --all` against it (the walk, plus every head compared with the checkpoint,
   whose stored heads are read back and re-hashed to its signed root first);
4. an incremental checkpoint after 1% more events (only the new events are walked).

It prints each one's wall time and events/s, then drops the database.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.adapters.signing import NoteSigner  # noqa: E402
from parcelflow.application.audit import verify_all  # noqa: E402
from parcelflow.bootstrap import build_checkpoints, build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import T0, Clock, journey, manifest  # noqa: E402

from ingest import create_database, drop_database  # noqa: E402  (bench/ingest.py)

EVENTS_PER_PARCEL = 12


def fill(svc, first: int, parcels: int, clock: Clock) -> None:
    for start in range(first, first + parcels, 1000):
        numbers = range(start, min(start + 1000, first + parcels))
        svc.register([manifest(n) for n in numbers])
        scans = [s for n in numbers for s in journey(n)]
        for at in range(0, len(scans), 1000):
            svc.ingest(scans[at:at + 1000])
        clock.advance(seconds=1)


def timed(what: str, events: int, run) -> object:
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    print(f"{what:<48} {events:>9,} events in {seconds:7.1f} s  {events / seconds:>9,.0f} events/s",
          flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    name, url = create_database(args.admin_url)
    signer = NoteSigner.generate("bench.parcelflow/checkpoints")
    settings = Settings(_env_file=None, database_url=url, checkpoint_key=signer.private_text(),
                        development=True)
    clock = Clock(now=T0 + timedelta(days=3))
    svc = build_service(settings, clock=clock, cache_size=0)
    try:
        parcels = -(-args.events // EVENTS_PER_PARCEL)
        started = time.perf_counter()
        fill(svc, 1, parcels, clock)
        events = svc.recorder.max_notification_id() or 0
        print(f"filled {parcels:,} parcels, {events:,} events in "
              f"{time.perf_counter() - started:.0f} s (not part of the figures)", flush=True)

        checkpoints, verification = build_checkpoints(svc, settings)
        report = timed("1. chain walk alone (verify_all)", events, lambda: verify_all(svc))
        assert report.ok and report.events == events
        clock.advance(minutes=10)
        made = timed("2. first checkpoint (from genesis)", events, checkpoints.make)
        assert made.changed == parcels and not made.refused
        audit = timed("3. verify --all against the checkpoint", events, verification.run)
        assert audit.ok and not audit.findings
        more = max(1, parcels // 100)
        fill(svc, parcels + 1, more, clock)
        clock.advance(minutes=10)
        added = (svc.recorder.max_notification_id() or 0) - events
        made = timed(f"4. next checkpoint ({more:,} parcels moved)", added, checkpoints.make)
        assert made.changed == more and made.stored.checkpoint.tree_size == parcels + more
    finally:
        svc.close()
        drop_database(args.admin_url, name)


if __name__ == "__main__":
    main()
