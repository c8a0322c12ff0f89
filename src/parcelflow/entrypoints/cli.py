"""`parcelflow <command>`: the one way to start every process."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from parcelflow.application.results import BatchReport
from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.service import ParcelService
from parcelflow.entrypoints.jsonlines import Line, batches, open_input, read_lines
from parcelflow.logs import configure_logging
from parcelflow.settings import get_settings

app = typer.Typer(
    help="parcelflow: an event-sourced parcel lifecycle and exception tracker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.callback()
def _setup() -> None:
    from parcelflow.runtime import tune_gc

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    tune_gc()


def service() -> ParcelService:
    from parcelflow.bootstrap import build_service

    return build_service()


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-22T18:00:00+08:00", 2)
    if moment.tzinfo is None:
        fail(f"{value!r} has no timezone offset, e.g. 2026-11-22T18:00:00+08:00", 2)
    return moment


# ---- register / ingest ---------------------------------------------------------------


def _load_file(
    path: str, key_name: str, send: Callable[[list[Any]], BatchReport]
) -> dict[str, Any]:
    """Feed a JSON Lines file to a batch command; one summary for the whole file."""
    size = get_settings().max_batch
    summary: dict[str, Any] = {"accepted": 0, "duplicates": 0, "rejected": []}
    try:
        stream = open_input(path)
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}", 2)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
    with stream, progress:
        task = progress.add_task("reading", total=None)
        done = 0
        for batch in batches(read_lines(stream), size):
            items: list[Line] = [line for line in batch if line.error is None]
            for line in batch:
                if line.error is not None:
                    summary["rejected"].append(
                        {"line": line.number, key_name: None, "reason": line.error})
            report = send([line.item for line in items])
            summary["accepted"] += report.accepted
            summary["duplicates"] += report.duplicates
            for result in report.rejected:
                summary["rejected"].append({
                    "line": items[result.index].number, key_name: result.key,
                    "reason": result.reason,
                })
            done += len(batch)
            progress.update(task, description=f"{done} lines, {summary['accepted']} accepted")
    summary["rejected"].sort(key=lambda r: r["line"])
    return summary


def _print_summary(summary: dict[str, Any], noun: str, as_json: bool, strict: bool) -> None:
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        rejected = summary["rejected"]
        out.print(f"{summary['accepted']} {noun} accepted, {summary['duplicates']} duplicates, "
                  f"{len(rejected)} rejected")
        for r in rejected[:20]:
            out.print(f"  line {r['line']}: {r['reason']}", highlight=False)
        if len(rejected) > 20:
            out.print(f"  ... and {len(rejected) - 20} more (use --json for all)")
    if strict and summary["rejected"]:
        raise typer.Exit(1)


StrictFlag = Annotated[
    bool, typer.Option("--strict", help="Exit with status 1 when any item was rejected.")
]
FileArg = Annotated[str, typer.Argument(help="JSON Lines file, or - for standard input.")]


@app.command()
def register(file: FileArg, as_json: JsonFlag = False, strict: StrictFlag = False) -> None:
    """Register parcels from manifests (manifest wire format v1, one per line)."""
    svc = service()
    summary = _load_file(file, "tracking_no", svc.register)
    _print_summary(summary, "manifests", as_json, strict)


@app.command()
def ingest(file: FileArg, as_json: JsonFlag = False, strict: StrictFlag = False) -> None:
    """Record scans (scan wire format v1, one per line). Replaying a file changes nothing."""
    svc = service()
    summary = _load_file(file, "scan_id", svc.ingest)
    _print_summary(summary, "scans", as_json, strict)


# ---- history / verify / erase -------------------------------------------------------------


def _summary_of(details: dict[str, Any]) -> str:
    if "scan_type" in details:
        parts = [details["scan_type"], "@", details["facility"]]
        for name in ("next_facility", "exception_code", "attempt_reason", "signed_by"):
            if details.get(name):
                parts.append(f"{name}={details[name]}")
        return " ".join(parts)
    manifest = details.get("manifest")
    if manifest:
        receiver = manifest.get("receiver", {})
        return (f"{manifest['service_level']} {manifest['origin']}→{manifest['destination']}, "
                f"receiver {receiver.get('name')} {receiver.get('phone')}")
    shown = {k: v for k, v in details.items() if k not in ("tracking_no",) and v not in (None, "")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


@app.command()
def history(
    tracking_no: str,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Show only what was recorded by this time (ISO 8601 with offset).")] = None,
    as_json: JsonFlag = False,
    reveal: Annotated[bool, typer.Option(
        "--reveal", help="Show personal data unmasked (auditors).")] = False,
) -> None:
    """A parcel's full history, event by event, with its hash chain."""
    from parcelflow.application.audit import history_report

    svc = service()
    moment = parse_time(as_of) if as_of else None
    try:
        head, items = history_report(svc, tracking_no, as_of=moment, reveal=reveal)
    except ParcelNotFound as e:
        fail(str(e) + (f" recorded by {as_of}" if as_of else ""))
    if as_json:
        print(json.dumps({**head, "events": [i.to_json() for i in items]}, ensure_ascii=False))
        return
    when = f" as recorded by {as_of}" if as_of else ""
    out.print(f"[bold]{tracking_no}[/bold]{when}: {head['status']}"
              + (f" [{', '.join(head['flags'])}]" if head["flags"] else "")
              + (f" at {head['location']}" if head["location"] else ""), highlight=False)
    for exc in head["open_exceptions"]:
        out.print(f"  open exception: {exc['code']} ({exc['status']})", highlight=False)
    table = Table("v", "event", "occurred", "recorded", "by", "details", "hash", box=None)
    for i in items:
        table.add_row(
            str(i.version), i.event_type, i.occurred_at.isoformat(timespec="seconds"),
            i.recorded_at.isoformat(timespec="seconds"), i.operator_id or i.device_id or "",
            _summary_of(i.details), i.event_hash[:12],
        )
    out.print(table)


@app.command()
def verify(
    tracking_no: Annotated[Optional[str], typer.Argument(help="One parcel to check.")] = None,
    all_parcels: Annotated[bool, typer.Option("--all", help="Check every parcel.")] = False,
) -> None:
    """Check hash chains; exit status 1 and the first broken link when tampered with."""
    from parcelflow.application.audit import verify as verify_one
    from parcelflow.application.audit import verify_all

    if bool(tracking_no) == all_parcels:
        fail("give a TRACKING_NO or --all (not both)", 2)
    svc = service()
    if tracking_no:
        try:
            report = verify_one(svc, tracking_no)
        except ParcelNotFound as e:
            fail(str(e))
    else:
        progress = Progress(TextColumn("{task.description}"), console=err, transient=True,
                            disable=not err.is_terminal)
        with progress:
            task = progress.add_task("verifying")
            report = verify_all(svc, progress=lambda at, last: progress.update(
                task, description=f"verifying: notification {at} of {last}"))
    for number, link in report.broken:
        out.print(f"BROKEN {number} event {link.version} ({link.event_type}): {link.reason}",
                  highlight=False)
    out.print(f"{report.parcels} parcels, {report.events} events checked: "
              + ("chain intact" if report.ok else f"{len(report.broken)} broken"))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def erase(
    tracking_no: str,
    by: Annotated[str, typer.Option(help="Who requested the erasure (kept in the history).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "erasure request",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a parcel's personal data for good by destroying its key."""
    from parcelflow.application.erasure import Erasure

    svc = service()
    if not yes and not typer.confirm(
            f"Destroy the personal data of {tracking_no}? This cannot be undone", err=True):
        raise typer.Exit(1)
    try:
        destroyed = Erasure(svc).erase(tracking_no, by=by, reason=reason).key_destroyed
    except ParcelNotFound as e:
        fail(str(e))
    out.print(f"{tracking_no}: personal data erased" if destroyed
              else f"{tracking_no}: no personal data to erase (already erased or never given)")


# ---- simulate / demo ------------------------------------------------------------------------


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the files.")] = Path(
        "simulation"),
    parcels: Annotated[int, typer.Option(min=1, max=1_000_000)] = 3000,
    seed: int = 7,
    hours: Annotated[float, typer.Option(help="Parcels are booked over this many hours.")] = 36,
) -> None:
    """Write a realistic manifest and scan stream (JSON Lines) for a network day."""
    from parcelflow.application.service import utcnow
    from parcelflow.bootstrap import load_network
    from parcelflow.simulation import simulate as run

    sim = run(load_network(get_settings().network_file), parcels=parcels, now=utcnow(),
              seed=seed, hours=hours)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("manifests.jsonl", sim.manifests), ("scans.jsonl", sim.scans),
                       ("manifests-late.jsonl", sim.late_manifests)):
        with (out_dir / name).open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    out.print(f"wrote {len(sim.manifests)} manifests, {len(sim.scans)} scans and "
              f"{len(sim.late_manifests)} late manifests to {out_dir}/")
    out.print(f"next: parcelflow register {out_dir}/manifests.jsonl && "
              f"parcelflow ingest {out_dir}/scans.jsonl && "
              f"parcelflow register {out_dir}/manifests-late.jsonl")


@app.command()
def demo(
    parcels: Annotated[int, typer.Option(min=10, max=100_000)] = 2000,
    seed: Annotated[Optional[int], typer.Option(help="Fix the randomness.")] = None,
) -> None:
    """Simulate a network day on the configured store and show what happened."""
    from parcelflow.entrypoints.demo import run_demo

    run_demo(service(), parcels=parcels, seed=seed, console=out)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


def _register_more() -> None:
    from parcelflow.entrypoints import exceptions_cli, serve_cli, views_cli, workers_cli

    views_cli.register(app)
    exceptions_cli.register(app)
    workers_cli.register(app)
    serve_cli.register(app)


_register_more()
