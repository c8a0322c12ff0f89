"""`parcelflow followups`: the follow-up calls a resolution makes due, and their outcomes.

    parcelflow followups [--due] [--all] [--json] [--wide]   what is to be called, the first due first
    parcelflow followups record TRACKING_NO FOLLOWUP --by WHO --outcome OUTCOME [--note TEXT]
    parcelflow followups show TRACKING_NO FOLLOWUP [--reveal]

Follow-ups are named by id or a unique prefix of it (4+ characters).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from parcelflow.domain.followups import FollowUpOutcome
from parcelflow.entrypoints.cli_support import (
    By,
    JsonFlag,
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
from parcelflow.entrypoints.tables import Column, fitted, print_table

app = typer.Typer(help="Follow-up calls after a resolution (回访).")

# What the caller works from is always whole (the tables of `parcelflow exceptions`
# do the same); the rest as the width allows, by rank.
FOLLOW_UP_COLUMNS = (
    Column("parcel", keep=True), Column("follow-up", keep=True), Column("about", rank=1),
    Column("level", rank=3), Column("assignee", keep=True), Column("since", rank=5),
    Column("due", keep=True), Column("status", rank=2), Column("attempts", rank=4),
    Column("outcome", rank=6),
)

FollowUpArg = Annotated[str, typer.Argument(help="Follow-up id or a unique prefix.")]


@app.callback(invoke_without_command=True)
def followups(
    ctx: typer.Context,
    due: Annotated[bool, typer.Option("--due", help="Only those whose due time has come.")]
    = False,
    every: Annotated[bool, typer.Option("--all", help="Done ones too.")] = False,
    limit: int = 50,
    as_json: JsonFlag = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, whatever the width.")]
    = False,
) -> None:
    """Follow-ups still to make, the first due first. Tracking number, follow-up, assignee
    and due time are always shown whole; the other columns as the terminal's width allows
    (--wide: all of them)."""
    if ctx.invoked_subcommand is not None:
        return
    svc = service()
    local = wall_clock(svc)
    view = catch_up(svc, "cases").projection.view
    rows = view.follow_ups(due_at=svc.clock() if due else None, every=every, limit=limit)
    if as_json:
        print_json(rows)
        return
    cells = [(r["tracking_no"], r["follow_up_id"][:8], r["code"], r["level"],
              r["assignee"] or "—", local(r["since"]), local(r["due"]), r["status"],
              str(r["attempts"]), r["outcome"] or "") for r in rows]
    print_table(out, fitted(FOLLOW_UP_COLUMNS, cells, width=out.width, wide=wide,
                            title=f"{len(rows)} follow-ups"))


@app.command("record")
def record(
    tracking_no: TrackingArg, follow_up: FollowUpArg, by: By,
    outcome: Annotated[FollowUpOutcome, typer.Option(
        metavar="OUTCOME", help=one_of("How the call went.", FollowUpOutcome))],
    note: Annotated[Optional[str], typer.Option(
        help="What was said (sealed with the parcel's key; never logged).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a follow-up call; not_satisfied reopens the exception to its assignee."""
    from parcelflow.application.followups import FollowUps

    desk = FollowUps(service())
    with refusals():
        fid = desk.record(tracking_no, follow_up, outcome, by=by, note=note).case_id
        shown = desk.show(tracking_no, fid)
    emit(shown, as_json, f"{tracking_no} follow-up {fid[:8]} {outcome}: {shown['status']}, "
         f"attempts {shown['attempts']}"
         + (", the exception is reopened" if outcome == FollowUpOutcome.NOT_SATISFIED else ""))


@app.command("show")
def show(tracking_no: TrackingArg, follow_up: FollowUpArg,
         reveal: Annotated[bool, typer.Option("--reveal", help="Open the notes.")] = False,
         as_json: JsonFlag = False) -> None:
    """One follow-up and every call made."""
    from parcelflow.application.followups import FollowUps

    with refusals():
        shown = FollowUps(service()).show(tracking_no, follow_up, reveal=reveal)
    emit(shown, as_json, "\n".join(f"{k}: {v}" for k, v in shown.items()
                                    if v not in (None, [], "")))
