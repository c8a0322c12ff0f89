"""CLI commands over the read models: project, rebuild, lag, track, stats.

(`parcelflow exceptions` and the rest of exception management: exceptions_cli.py.)
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parcelflow.application.service import ParcelService
from parcelflow.entrypoints.cli import JsonFlag, err, fail, out, service
from parcelflow.entrypoints.running import until_signalled
from parcelflow.settings import get_settings

NamesArg = Annotated[Optional[list[str]], typer.Argument(
    help="Projections: tracking, exceptions, stats, cases (default: all).")]


def _runners(svc: ParcelService, names: list[str] | None) -> list[Any]:
    from parcelflow.projections.registry import PROJECTIONS, runners

    unknown = set(names or ()) - set(PROJECTIONS)
    if unknown:
        fail(f"no projection {', '.join(sorted(unknown))}; known: {', '.join(PROJECTIONS)}", 2)
    return runners(svc, names or ())


def catch_up(svc: ParcelService, name: str) -> Any:
    """Read-your-writes: bring one read model up to the log's head, then read it."""
    [runner] = _runners(svc, [name])
    runner.run()
    return runner


def project(names: NamesArg = None, follow: Annotated[bool, typer.Option(
        "--follow", help="Keep following the log until interrupted.")] = False) -> None:
    """Bring the read models up to date with the event log (once, or following it)."""
    svc = service()
    runners = _runners(svc, names)
    if not follow:
        for runner in runners:
            started = time.perf_counter()
            done = runner.run()
            seconds = time.perf_counter() - started
            out.print(f"{runner.name}: {done} events in {seconds:.1f} s, at {runner.position}")
        return
    stop = until_signalled(get_settings(), "project")
    threads = [threading.Thread(target=r.run, kwargs={"follow": True, "stop": stop},
                                name=f"project-{r.name}", daemon=True) for r in runners]
    for t in threads:
        t.start()
    err.print(f"following the log into {', '.join(r.name for r in runners)} (Ctrl-C stops)")
    from parcelflow.projections.runner import log

    from parcelflow import metrics

    while not stop.wait(10):
        for runner in runners:
            lagging = runner.lag()
            metrics.PROJECTION_LAG_EVENTS.labels(runner.name).set(lagging.behind)
            metrics.PROJECTION_LAG_SECONDS.labels(runner.name).set(lagging.seconds)
            log.info("projection.lag", **lagging.to_json())
        if not all(t.is_alive() for t in threads):
            stop.set()
            fail("a projection stopped with an error (see the log)")
    for t in threads:
        t.join(timeout=10)


def rebuild(names: NamesArg = None, workers: Annotated[int, typer.Option(
        min=1, max=32, help="Processes replaying the log side by side (one per core).")] = 1,
) -> None:
    """Drop read models and replay the whole log into them."""
    from parcelflow.projections import parallel
    from parcelflow.settings import get_settings

    svc = service()
    for runner in _runners(svc, names):
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
                events, seconds = parallel.rebuild(runner, get_settings().database_url,
                                                   workers=workers, progress=show)
            else:
                events, seconds = runner.rebuild(progress=show)
        out.print(f"{runner.name}: rebuilt from {events} events in {seconds:.1f} s "
                  f"({events / max(seconds, 1e-6):,.0f} events/s)")


def lag(as_json: JsonFlag = False) -> None:
    """Each read model's position, and how far behind the log it is."""
    svc = service()
    lags = [r.lag().to_json() for r in _runners(svc, None)]
    if as_json:
        print(json.dumps(lags))
        return
    table = Table("projection", "position", "log head", "behind", "seconds behind")
    for row in lags:
        table.add_row(str(row["projection"]), str(row["position"]), str(row["head"]),
                      str(row["behind"]), str(row["seconds_behind"]))
    out.print(table)


def _local(value: str | None) -> str:
    if not value:
        return "—"
    from datetime import datetime

    from parcelflow.bootstrap import load_network

    zone = load_network(get_settings().network_file).zone
    return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def track(tracking_no: str, as_json: JsonFlag = False) -> None:
    """What a customer sees: status, place, ETA, next step and timeline (personal data masked)."""
    svc = service()
    view = catch_up(svc, "tracking").projection.view
    row = view.get(tracking_no)
    if row is None:
        fail(f"no parcel with tracking number {tracking_no}")
    if as_json:
        print(json.dumps(row, ensure_ascii=False))
        return
    flags = escape(f" [{', '.join(row['flags'])}]") if row["flags"] else ""
    out.print(f"[bold]{tracking_no}[/bold]: {row['status']}{flags}", highlight=False)
    place = f"{row['facility']} ({row['city']})" if row["facility"] else "not scanned yet"
    out.print(f"  at {place}; last event {row['last_event']} at {_local(row['last_event_at'])}")
    out.print(f"  promised by {_local(row['promised_by'])}; ETA {_local(row['eta'])}; next: "
              f"{row['next_activity'] or '—'} {row['next_facility'] or ''}".rstrip())
    receiver = row.get("receiver") or {}
    if receiver:
        out.print(f"  receiver {receiver.get('name')} {receiver.get('phone')}, "
                  f"{receiver.get('address')}", highlight=False)
    if row["delivered_at"]:
        out.print(f"  delivered {_local(row['delivered_at'])}, signed by {row['signed_by']}")
    out.print(f"  open exceptions: {row['open_exceptions']}")
    table = Table("occurred (UTC+8)", "what happened", "", box=None)
    for item in row["timeline"]:
        marks = ", ".join(m for m, on in (("late upload", item["late"]),
                                          ("voided", item["voided"])) if on)
        table.add_row(_local(item["occurred_at"]), item["description"],
                      f"[yellow]{marks}[/yellow]" if marks else "")
    out.print(table)


def stats(
    day: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD (default: today).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Daily service statistics: scans, deliveries, on-time, exceptions, compliance, SLAs."""
    from parcelflow.projections.daily_stats import today_in

    svc = service()
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            fail(f"{day!r} is not a date (YYYY-MM-DD)", 2)
    view = catch_up(svc, "stats").projection.view
    report = view.report(day or today_in(svc.network, svc.clock()))
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    table = Table("facility", "scans", "parcels", "deliveries", "on time", "compliance",
                  "1st resp SLA", "resolution SLA", "exceptions", title=f"Service day {report['day']}",
                  title_justify="left")
    for name, row in [*report["facilities"].items(), ("NETWORK", report["network"])]:
        table.add_row(name, str(row["scans"]), str(row["parcels"]), str(row["deliveries"]),
                      pct(row["on_time_rate"]), pct(row["scan_compliance"]),
                      pct(row["first_response_sla"]), pct(row["resolution_sla"]),
                      ", ".join(f"{k} {v}" for k, v in row["exceptions"].items()))
    out.print(table)


def register(app: typer.Typer) -> None:
    for command in (project, rebuild, lag, track, stats):
        app.command()(command)
