"""`parcelflow demo`: a simulated network day, told readably."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from parcelflow.application.describe import describe, facility_name
from parcelflow.application.results import BatchReport
from parcelflow.application.service import ParcelService
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel
from parcelflow.entrypoints.cli_support import styled
from parcelflow.logs import configure_logging
from parcelflow.settings import get_settings
from parcelflow.simulation import Arrival, Simulation, booking_day, simulate, tracking_no

HOURS = 36


def _free_serials(svc: ParcelService, parcels: int, rng: random.Random) -> int:
    """A block of serial numbers no earlier run used, so runs never collide."""
    day = booking_day(svc.clock(), HOURS, svc.network.zone)
    for _ in range(20):
        first = rng.randrange(1, 10**7 - parcels)
        probe = [parcel_id(tracking_no(day, first)), parcel_id(tracking_no(day, first + parcels - 1))]
        if not svc.load_many(probe, use_cache=False):
            return first
    raise RuntimeError("no free block of tracking numbers for today's demo; use a fresh database")


def _replay(svc: ParcelService, sim: Simulation, progress: Progress,
            step: timedelta = timedelta(minutes=15)) -> tuple[list[BatchReport], list[BatchReport]]:
    """Feed the stream in time order, on a simulated clock: every `step`, the manifests
    and then the scans that reached the server in it. Recorded times are then real."""
    task = progress.add_task("replaying the day", total=len(sim.stream))
    real_clock = svc.clock
    registered: list[BatchReport] = []
    ingested: list[BatchReport] = []
    size = svc.limits.max_batch
    try:
        window: list[Arrival] = []
        for arrival in sim.stream + [None]:  # type: ignore[list-item]
            if window and (arrival is None or arrival.at - window[0].at >= step):
                now = window[-1].at
                svc.clock = lambda now=now: now
                for kind, send, reports in (("manifest", svc.register, registered),
                                            ("scan", svc.ingest, ingested)):
                    items = [a.item for a in window if a.kind == kind]
                    for start in range(0, len(items), size):
                        reports.append(send(items[start:start + size]))
                progress.advance(task, len(window))
                window = []
            if arrival is not None:
                window.append(arrival)
    finally:
        svc.clock = real_clock
    return registered, ingested


def _interesting(parcels: list[Parcel]) -> Parcel:
    def score(p: Parcel) -> int:
        state = p.state
        return (3 * bool(state.flags) + 2 * any(e.late for e in state.timeline)
                + 2 * (state.failed_attempts > 0) + len(state.timeline) // 6)
    return max(parcels, key=score)


def run_demo(svc: ParcelService, *, parcels: int, seed: int | None, console: Console) -> None:
    """Tell the day on `console`, which prints text as it is (no Rich markup: our own
    emphasis is styled, see cli_support)."""
    configure_logging(level="WARNING")  # the demo tells its own story; keep batch logs out
    rng = random.Random(seed)
    started = time.perf_counter()
    sim: Simulation = simulate(svc.network, parcels=parcels, now=svc.clock(),
                               seed=rng.randrange(2**31), hours=HOURS,
                               first_serial=_free_serials(svc, parcels, rng))
    with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as progress:
        t0 = time.perf_counter()
        registered, ingested = _replay(svc, sim, progress)
        replay_seconds = time.perf_counter() - t0
    loaded = svc.load_many([parcel_id(n) for n in sim.tracking_nos], use_cache=False)
    run = [loaded[parcel_id(n)] for n in sim.tracking_nos if parcel_id(n) in loaded]

    accepted = sum(r.accepted for r in ingested)
    duplicates = sum(r.duplicates for r in ingested)
    rejected = [x for r in ingested for x in r.rejected]
    events = sum(r.events for r in ingested + registered)
    console.print(styled(
        ("A simulated network day", "bold"), f": {len(run)} parcels booked over the last "
        f"{HOURS} h across {len(svc.network.cities)} cities "
        f"({sum(r.accepted for r in registered)} manifests, "
        f"{len(sim.late_manifests)} of them after the parcel's first scan)"))
    console.print(
        f"Scans: {len(sim.scans)} sent, {accepted} recorded, {duplicates} retried duplicates "
        f"ignored, {len(rejected)} rejected; {events} events stored in "
        f"{replay_seconds:.1f} s")
    for r in rejected[:3]:
        console.print(f"  rejected {r.key}: {r.reason}", highlight=False)

    statuses = Counter(str(p.state.status) for p in run)
    flags = Counter(str(f) for p in run for f in p.state.flags)
    table = Table("status", "parcels", title="Where the parcels are", title_justify="left")
    for status, n in statuses.most_common():
        table.add_row(status, str(n))
    for flag, n in flags.most_common():
        table.add_row(styled(("flag:", "dim"), f" {flag}"), str(n))
    console.print(table)

    raised = Counter(str(r.code) for p in run for r in p.exceptions.values())
    still_open = Counter(str(r.code) for p in run for r in p.open_exceptions)
    table = Table("exception", "raised", "open", title="Exceptions caught", title_justify="left")
    for code, n in raised.most_common():
        table.add_row(code, str(n), str(still_open.get(code, 0)))
    console.print(table)
    missed = Counter(str(m.scan_type) for p in run for m in p.state.missed_scans)
    if missed:
        console.print("Missed scans (tolerated, counted for scan compliance): "
                      + ", ".join(f"{t} {n}" for t, n in missed.most_common()))

    parcel = _interesting(run)
    state = parcel.state
    console.print(styled("\n", (parcel.tracking_no, "bold"), f": {state.status}"
                         + (f" [{', '.join(sorted(state.flags))}]" if state.flags else "")
                         + f", last seen at {facility_name(state.location, svc.network)}"))
    zone = svc.network.zone
    table = Table(f"occurred ({zone})", "what happened", "", box=None)
    for entry in state.timeline:
        marks = ", ".join(m for m, on in (("late upload", entry.late), ("voided", entry.voided),
                                          ("anomaly", entry.version in state.anomalies)) if on)
        table.add_row(entry.occurred_at.astimezone(zone).strftime("%m-%d %H:%M"),
                      describe(entry, svc.network),
                      Text(marks, style="yellow"))
    console.print(table)
    _project(svc)
    settings = get_settings()
    console.print(f"\nDone in {time.perf_counter() - started:.1f} s. Try:\n"
                  f"  parcelflow history {parcel.tracking_no}\n"
                  f"  parcelflow verify --all\n"
                  f"  parcelflow serve, then open "
                  f"http://{settings.api_host}:{settings.api_port}/track/{parcel.tracking_no}")


def _project(svc: ParcelService) -> None:
    """Bring every read model up to the log, so `parcelflow serve` (its tracking page)
    shows the day's parcels at once."""
    from parcelflow.projections.registry import runners

    for runner in runners(svc):
        try:
            runner.run()
        finally:
            runner.close()
