"""Instructions an event for the notification worker's deciding half: a figure that does
not move with the machine's load, as `bench/ingest.py --instructions` is for ingest.

    .venv/bin/python bench/notify_instructions.py [--parcels 500] [--json FILE]

Creates a throwaway database, registers --parcels parcels and stores their whole
journeys (12 events each, as `bench/pipeline.py` does: registered now, scanned over the
two days before), not counted. Then, in a child process under `valgrind
--tool=callgrind --instr-atstart=no`, counts exactly `FactFinder.facts` over every
stored event in log order, 500 a poll as the worker polls (`callgrind_control -i on`
before the first poll, `-i off` after the last), for:

- an email/SMS worker's facts (the delivery prediction, what receivers' messages say);
- a webhook worker's (`predictions=False, for_receivers=False`: the bundled rules tell
  merchants of status changes only);
- the limit: the same polls' rows read raw (`select_events_in`, what the fold reads),
  counted the same way.

Only the child's own instructions count (PostgreSQL's are not), with
PYTHONHASHSEED=0, so a run repeats to within a few hundred instructions an event.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import callgrind  # bench/callgrind.py
from figures import Figure, write  # bench/figures.py

KINDS = {"email": {}, "webhook": {"predictions": False, "for_receivers": False}}


def child(url: str, parcels: int, kind: str) -> None:
    """Under callgrind: set up (not counted), then count exactly the deciding."""
    from parcelflow.consumers import parcel_events
    from parcelflow.consumers.notifications.facts import EventRef, FactFinder
    from pipeline import journeys, on_time, read_raw

    from parcelflow.application.service import utcnow
    from parcelflow.bootstrap import build_service
    from parcelflow.logs import configure_logging
    from parcelflow.runtime import tune_gc
    from tests.support.kafka_settings import kafka_test_settings

    configure_logging("console", "WARNING")
    tune_gc()  # as `parcelflow notify` runs
    svc = build_service(kafka_test_settings(url, "127.0.0.1:1", max_batch=1000), clock=utcnow)
    svc.register([on_time(n) for n in range(1, parcels + 1)])
    items = journeys(1, parcels)
    for start in range(0, len(items), 1000):
        svc.ingest(items[start:start + 1000])
    refs = [EventRef(parcel_events.event_id(n.originator_id, n.originator_version),
                     n.originator_id, n.originator_version)
            for n in svc.recorder.select_notifications(start=None, limit=1 << 30)]
    polls = [refs[i:i + 500] for i in range(0, len(refs), 500)]
    finder = FactFinder(svc, **KINDS.get(kind, {}))
    with callgrind.counting():
        if kind == "raw":
            read_raw(svc, polls)
        else:
            for poll in polls:
                finder.facts(poll)
    print(f"EVENTS {len(refs)}", flush=True)
    svc.close()


def count(parcels: int, kind: str) -> float:
    from tests.support.postgres import fresh_database

    with fresh_database() as url:
        collected, done = callgrind.run(__file__, ["--child", url, "--parcels", str(parcels),
                                                   "--kind", kind])
        events = int(re.search(r"EVENTS (\d+)", done.stdout).group(1))  # type: ignore[union-attr]
        print(f"{kind}: {collected:,} instructions for {events:,} events = "
              f"{collected / events:,.0f} an event", flush=True)
        return collected / events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parcels", type=int, default=500)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=[*KINDS, "raw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.parcels, args.kind)
        return 0
    callgrind.require()
    raw = count(args.parcels, "raw")
    figures = [Figure(f"notify_instructions_{kind}",
                      f"notification worker, deciding ({kind} worker's facts), "
                      "instructions an event (callgrind)", count(args.parcels, kind),
                      "instructions/event", "the same polls' rows read raw", raw,
                      "instructions/event", lower_is_better=True)
               for kind in KINDS]
    write(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
