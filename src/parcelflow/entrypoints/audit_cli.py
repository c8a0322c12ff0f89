"""`parcelflow history`, `verify` and `erase`: what auditors and data-protection officers run."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.progress import Progress, TextColumn
from rich.table import Table

from parcelflow.application.errors import ParcelNotFound
from parcelflow.entrypoints.cli_support import (
    JsonFlag,
    err,
    fail,
    out,
    parse_time,
    TrackingArg,
    print_json,
    service,
    styled,
    tracking_number,
)

app = typer.Typer()


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
    tracking_no: TrackingArg,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="Show only what was recorded by this time (ISO 8601 with offset).")] = None,
    as_json: JsonFlag = False,
    reveal: Annotated[bool, typer.Option(
        "--reveal", help="Show personal data unmasked (auditors).")] = False,
) -> None:
    """A parcel's full history, event by event, with its hash chain."""
    from parcelflow.application.audit import history_report

    svc = service()
    moment = parse_time(as_of, "--as-of") if as_of else None
    try:
        head, items = history_report(svc, tracking_no, as_of=moment, reveal=reveal)
    except ParcelNotFound as e:
        fail(str(e) + (f" recorded by {as_of}" if as_of else ""))
    if as_json:
        print_json({**head, "events": [i.to_json() for i in items]})
        return
    when = f" as recorded by {as_of}" if as_of else ""
    out.print(styled((tracking_no, "bold"), f"{when}: {head['status']}"
                     + (f" [{', '.join(head['flags'])}]" if head["flags"] else "")
                     + (f" at {head['location']}" if head["location"] else "")), highlight=False)
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
    tracking_no: Annotated[Optional[str], typer.Argument(
        help="One parcel to check.", callback=tracking_number)] = None,
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
    tracking_no: TrackingArg,
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
