"""`parcelflow project`, `rebuild`, `lag`, `track` and `stats`: the read models.

(The exception queue, complaints and claims read models have CLIs of their own:
exceptions_cli, complaints_cli, claims_cli.)
"""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from parcelflow.application.tracking_document import full
from parcelflow.entrypoints.cli_support import (
    JsonFlag,
    TrackingArg,
    catch_up,
    err,
    fail,
    out,
    parse_time,
    print_json,
    runners,
    service,
    styled,
    wall_clock,
)
from parcelflow.entrypoints.running import until_signalled
from parcelflow.entrypoints.tables import Column, fitted, print_table
from parcelflow.projections.registry import ProjectionName
from parcelflow.settings import get_settings

app = typer.Typer()

# The facility always whole; the figures as the width allows, by rank.
STATS_COLUMNS = (
    Column("facility", keep=True), Column("scans", rank=1, justify="right"),
    Column("parcels", rank=2, justify="right"), Column("deliveries", rank=3, justify="right"),
    Column("on time", rank=4, justify="right"), Column("compliance", rank=8, justify="right"),
    Column("1st resp SLA", rank=6, justify="right"),
    Column("resolution SLA", rank=7, justify="right"), Column("exceptions", rank=5, fold=True),
)

ACCURACY_COLUMNS = (
    Column("lane", keep=True), Column("deliveries", rank=1, justify="right"),
    Column("inside range", rank=2, justify="right"), Column("MAE h", rank=3, justify="right"),
)

NamesArg = Annotated[Optional[list[ProjectionName]], typer.Argument(  # type: ignore[valid-type]
    help="The read models (default: all).")]


@app.command()
def project(names: NamesArg = None, follow: Annotated[bool, typer.Option(
        "--follow", help="Keep following the log until interrupted.")] = False) -> None:
    """Bring the read models up to date with the event log (once, or following it)."""
    from parcelflow.adapters.store import Pool
    from parcelflow.bootstrap import build_service
    from parcelflow.projections.registry import PROJECTIONS
    from parcelflow.runtime import tune_threads_for_following

    # Following: one connection per read model (its reads), one for the writes, one
    # listening for new events on behalf of all; nothing more under load.
    following = len(set(names or PROJECTIONS))
    svc = build_service(pool=Pool(size=following + 2, overflow=0)) if follow else service()
    chosen = runners(svc, names)
    if not follow:
        for runner in chosen:
            started = time.perf_counter()
            done = runner.run()
            seconds = time.perf_counter() - started
            out.print(f"{runner.name}: {done} events in {seconds:.1f} s, at {runner.position}")
        return
    stop = until_signalled(get_settings(), "project")
    tune_threads_for_following()
    threads = [threading.Thread(target=r.run, kwargs={"follow": True, "stop": stop},
                                name=f"project-{r.name}", daemon=True) for r in chosen]
    for t in threads:
        t.start()
    err.print(f"following the log into {', '.join(r.name for r in chosen)} (Ctrl-C stops)")
    from parcelflow.projections.runner import log

    from parcelflow import metrics

    while not stop.wait(10):
        for runner in chosen:
            lagging = runner.lag()
            metrics.PROJECTION_LAG_EVENTS.labels(runner.name).set(lagging.behind)
            metrics.PROJECTION_LAG_SECONDS.labels(runner.name).set(lagging.seconds)
            log.info("projection.lag", **lagging.to_json())
        if not all(t.is_alive() for t in threads):
            stop.set()
            fail("a projection stopped with an error (see the log)")
    for t in threads:
        t.join(timeout=10)


@app.command()
def rebuild(names: NamesArg = None, workers: Annotated[int, typer.Option(
        min=1, max=32, help="Processes replaying the log side by side (one per core).")] = 1,
) -> None:
    """Drop read models and replay the whole log into them."""
    from parcelflow.projections import parallel
    from parcelflow.settings import get_settings

    svc = service()
    for runner in runners(svc, names):
        head = runner.follower.head()
        with Progress(TextColumn(f"rebuilding {runner.name:<10}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            task = progress.add_task("", total=head or 1, rate="")
            started = time.perf_counter()

            def show(done: int, position: int, _: int) -> None:
                rate = done / max(time.perf_counter() - started, 1e-6)
                progress.update(task, completed=position, rate=f"{rate:,.0f} events/s")

            if workers > 1:
                events, seconds = parallel.rebuild(runner, get_settings().shard_urls(),
                                                   workers=workers, progress=show)
            else:
                events, seconds = runner.rebuild(progress=show)
        out.print(f"{runner.name}: rebuilt from {events} events in {seconds:.1f} s "
                  f"({events / max(seconds, 1e-6):,.0f} events/s)")


@app.command()
def lag(as_json: JsonFlag = False) -> None:
    """Each read model's position, and how far behind the log it is."""
    svc = service()
    lags = [r.lag().to_json() for r in runners(svc)]
    if as_json:
        print_json(lags)
        return
    table = Table("projection", "position", "log head", "behind", "seconds behind")
    for row in lags:
        table.add_row(str(row["projection"]), str(row["position"]), str(row["head"]),
                      str(row["behind"]), str(row["seconds_behind"]))
    out.print(table)


@app.command()
def track(tracking_no: TrackingArg, as_json: JsonFlag = False,
          recorded_by: Annotated[Optional[str], typer.Option(
              "--recorded-by", help="What a customer was shown at this time (ISO 8601 with "
              "offset): rebuilt from what had been recorded by then.")] = None) -> None:
    """What a customer sees: status, place, ETA, next step and timeline (personal data masked)."""
    svc = service()
    local = wall_clock(svc)
    if recorded_by is not None:
        from parcelflow.projections.tracking_view import as_seen

        row = as_seen(svc, tracking_no, parse_time(recorded_by, "--recorded-by"))
        if row is None:
            fail(f"no parcel with tracking number {tracking_no} recorded by {recorded_by}")
    else:
        row = catch_up(svc, "tracking").projection.view.get(tracking_no)
    if row is None:
        fail(f"no parcel with tracking number {tracking_no}")
    doc = full(row)  # the API's document: one renderer for both surfaces
    if as_json:
        print_json(doc)
        return
    flags = f" [{', '.join(doc['flags'])}]" if doc["flags"] else ""
    out.print(styled((tracking_no, "bold"), f": {doc['status']}{flags}"), highlight=False)
    location, step = doc["location"], doc["next_expected"] or {}
    place = f"{location['facility']} ({location['city']})" if location["facility"] else (
        "not scanned yet")
    out.print(f"  at {place}; last event {doc['last_event']} at {local(doc['last_event_at'])}")
    out.print(f"  promised by {local(doc['promised_by'])}; next: "
              f"{step.get('activity') or '—'} {step.get('facility') or ''}".rstrip())
    for label, eta in (("ETA", doc["eta"]), ("first ETA", doc["eta_original"])):
        if eta:
            out.print(f"  {label} {local(eta['likely'])} (range {local(eta['earliest'])} to "
                      f"{local(eta['latest'])}; confidence {eta['confidence']:.2f}, "
                      f"{eta['basis']})", highlight=False)
    receiver = doc["receiver"] or {}
    if receiver:
        out.print(f"  receiver {receiver.get('name')} {receiver.get('phone')}, "
                  f"{receiver.get('address')}", highlight=False)
    if doc["delivered"]:
        out.print(f"  delivered {local(doc['delivered']['at'])}, "
                  f"signed by {doc['delivered']['signed_by']}")
    out.print(f"  open exceptions: {doc['open_exceptions']}")
    for problem in row["data_problems"]:  # for staff: not part of the customers' document
        out.print(f"  data quality: scanned at {problem['facility']}, which is not in the "
                  f"network registry ({local(problem['occurred_at'])}; kept)", highlight=False)
    table = Table(f"occurred ({svc.network.zone})", "what happened", "", box=None)
    for item in doc["timeline"]:
        marks = ", ".join(m for m, on in (("late upload", item["late"]),
                                          ("voided", item["voided"])) if on)
        table.add_row(local(item["occurred_at"]), item["description"],
                      Text(marks, style="yellow"))
    out.print(table)


@app.command()
def stats(
    day: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD (default: today).")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, whatever the width.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """Daily service statistics: scans, deliveries, on-time, exceptions, compliance, SLAs.
    The facility is always shown whole; the other columns as the width allows (--wide:
    all of them)."""
    from parcelflow.projections.daily_stats import today_in

    svc = service()
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            fail(f"{day!r} is not a date (YYYY-MM-DD)", 2)
    from parcelflow.application.delivery_dates import prediction_accuracy

    view = catch_up(svc, "stats").projection.view
    report = view.report(day or today_in(svc.network, svc.clock()))
    report["eta_accuracy"] = prediction_accuracy(catch_up(svc, "tracking").projection.view)
    if as_json:
        print_json(report)
        return

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    cells = [(name, str(row["scans"]), str(row["parcels"]), str(row["deliveries"]),
              pct(row["on_time_rate"]), pct(row["scan_compliance"]),
              pct(row["first_response_sla"]), pct(row["resolution_sla"]),
              ", ".join(f"{k} {v}" for k, v in row["exceptions"].items()))
             for name, row in [*report["facilities"].items(), ("NETWORK", report["network"])]]
    table = fitted(STATS_COLUMNS, cells, width=out.width, wide=wide,
                   title=f"Service day {report['day']}")
    print_table(out, table)
    unknown = {name: row["unknown_facility_scans"] for name, row in report["facilities"].items()
               if row["unknown_facility_scans"]}
    if unknown:
        out.print(f"data quality: {report['network']['unknown_facility_scans']} scans at "
                  "facilities not in the network registry (kept): "
                  + ", ".join(f"{name} {n}" for name, n in unknown.items()), highlight=False)
    accuracy = report["eta_accuracy"]
    table = fitted(ACCURACY_COLUMNS, [
        (lane, str(row["deliveries"]), pct(row["inside_range"]),
         "—" if row["mae_hours"] is None else f"{row['mae_hours']:.2f}")
        for lane, row in [*accuracy["lanes"].items(), ("ALL LANES", accuracy["overall"])]],
        width=out.width, wide=wide,
        title="Predicted delivery dates (as predicted at pickup): every delivery so far")
    print_table(out, table)

