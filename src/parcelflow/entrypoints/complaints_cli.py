"""`parcelflow complaints`: customer complaints, on the 7-day complaint clock.

    parcelflow complaints [--status S] [--overdue] ...   the list, the oldest due first
    parcelflow complaints file|close|show

Complaints are named by id or a unique prefix of it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Optional

import typer
from rich.table import Table

from parcelflow.domain.vocabulary import Channel, ComplaintCategory, ComplaintStatus, Outcome
from parcelflow.entrypoints.cli_support import (
    By,
    JsonFlag,
    StaffOutcome,
    TrackingArg,
    catch_up,
    emit,
    one_of,
    out,
    print_json,
    refusals,
    service,
    wall_clock,
)

app = typer.Typer(help="Customer complaints (on the 7-day complaint clock).")

ComplaintArg = Annotated[str, typer.Argument(help="Complaint id or a unique prefix.")]


# Which complaints to list: those in one status, or all of them.
Listed = StrEnum(  # type: ignore[misc]
    "Listed", {**{s.name: s.value for s in ComplaintStatus}, "ALL": "all"})


@app.callback(invoke_without_command=True)
def complaints(
    ctx: typer.Context,
    status: Annotated[Listed, typer.Option(  # type: ignore[valid-type]
        help="Which complaints.")] = Listed.OPEN,  # type: ignore[attr-defined]
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open ones past due.")]
    = False,
    tracking_no: Annotated[Optional[str], typer.Option("--tracking-no")] = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """Complaints, the oldest due first."""
    if ctx.invoked_subcommand is not None:
        return
    svc = service()
    local = wall_clock(svc)
    view = catch_up(svc, "cases").projection.view
    wanted = None if status is Listed.ALL else str(status)  # type: ignore[attr-defined]
    rows = view.complaints(status=wanted,
                           overdue_at=svc.clock() if overdue else None, tracking_no=tracking_no,
                           limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("parcel", "complaint", "category", "channel", "filed", "due", "status",
                  "links", title=f"{len(rows)} complaints", title_justify="left")
    for r in rows:
        table.add_row(r["tracking_no"], r["complaint_id"][:8], r["category"], r["channel"],
                      local(r["filed_at"]), local(r["due"]), r["status"],
                      str(len(r["links"])))
    out.print(table)


@app.command("file")
def file_complaint(
    tracking_no: TrackingArg, by: By,
    category: Annotated[ComplaintCategory, typer.Option(
        metavar="CATEGORY", help=one_of("What it is about.", ComplaintCategory))],
    channel: Annotated[Channel, typer.Option(
        metavar="CHANNEL", help=one_of("How it came in.", Channel))],
    words: Annotated[Optional[str], typer.Option(
        help="The customer's own words (sealed with the parcel's key; never logged).")] = None,
    link: Annotated[Optional[list[str]], typer.Option(
        help="An exception it is about (repeatable; default: those its category points at).")]
    = None,
    reference: Annotated[Optional[str], typer.Option(
        help="The complaint's own number (a second filing with it is the same complaint).")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """File a customer complaint."""
    from parcelflow.application.complaints import Complaints

    svc = service()
    complaints = Complaints(svc)
    with refusals():
        cid = complaints.file(tracking_no, category, channel, words=words, by=by, links=link,
                              reference=reference).case_id
        shown = complaints.show(tracking_no, cid)
    emit(shown, as_json, f"{tracking_no} complaint {cid[:8]} filed ({category}, {channel}); "
         f"linked to {len(shown['links'])} exception(s); due {wall_clock(svc)(shown['due'])}")


@app.command("close")
def close_complaint(
    tracking_no: TrackingArg,
    complaint: ComplaintArg,
    by: By,
    outcome: Annotated[StaffOutcome, typer.Option(  # type: ignore[valid-type]
        metavar="OUTCOME", help=one_of("How it ended.", StaffOutcome))],
    confirmed: Annotated[bool, typer.Option(
        "--confirmed", help="The customer confirmed the resolution.")] = False,
    reason: Annotated[Optional[str], typer.Option(
        help="Why it is closed without the customer's confirmation.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Close a complaint with the customer's confirmation or a recorded reason."""
    from parcelflow.application.complaints import Complaints

    complaints = Complaints(service())
    result = Outcome(outcome.value)
    with refusals():
        cid = complaints.close(tracking_no, complaint, result, by=by,
                               customer_confirmed=confirmed, reason=reason).case_id
        shown = complaints.show(tracking_no, cid)
    emit(shown, as_json, f"{tracking_no} complaint {cid[:8]} closed: {result}"
         + (" (customer confirmed)" if confirmed else f" ({reason})"))


@app.command("show")
def show_complaint(
    tracking_no: TrackingArg,
    complaint: ComplaintArg,
    reveal: Annotated[bool, typer.Option("--reveal", help="Open the customer's words.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """One complaint (the customer's words stay sealed unless --reveal)."""
    from parcelflow.application.complaints import Complaints

    with refusals():
        shown = Complaints(service()).show(tracking_no, complaint, reveal=reveal)
    emit(shown, as_json, "\n".join(f"{k}: {v}" for k, v in shown.items()
                                    if v not in (None, [], "")))
