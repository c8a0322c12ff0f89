"""`parcelflow exceptions`: the open exception queue and its workflow.

    parcelflow exceptions [--overdue] [--code C] [--team TEAM] [--assignee WHO] ...   the queue
    parcelflow exceptions acknowledge|hand-over|contact|escalate|await|resume|resolve|reopen|show|raise

Exceptions are named by id, a unique prefix of it (4+ characters), or their code (the
open one).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Optional

import typer

from parcelflow.application.results import Step
from parcelflow.domain.vocabulary import Channel, ExceptionCode, ExceptionStatus, Outcome
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
from parcelflow.entrypoints.tables import Column, fitted, print_table

app = typer.Typer(help="The exception queue and its workflow.", no_args_is_help=False)

# What an agent works from is always whole; the rest as the width allows, by rank.
QUEUE_COLUMNS = (
    Column("parcel", keep=True), Column("exception", rank=3), Column("code", keep=True),
    Column("severity", rank=4), Column("team", rank=1), Column("assignee", keep=True),
    Column("tier", rank=6), Column("status", rank=2), Column("raised", rank=7),
    Column("due", keep=True), Column("esc", rank=5), Column("breached", rank=5),
)

ExcArg = Annotated[str, typer.Argument(
    help="Exception id, a unique prefix of it, or its code (the open one).")]


@app.callback(invoke_without_command=True)
def exceptions(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those past their due time.")]
    = False,
    code: Annotated[Optional[ExceptionCode], typer.Option(
        metavar="CODE", help=one_of("Only this exception code.", ExceptionCode))] = None,
    team: Annotated[Optional[str], typer.Option(
        help="Only those this team must act on (the rule's team, or the team it was handed to).")]
    = None,
    assignee: Annotated[Optional[str], typer.Option(
        help="Only those this person has (who took it, or whom it was handed to).")] = None,
    breached: Annotated[bool, typer.Option("--breached", help="Only those with a missed SLA.")]
    = False,
    escalated: Annotated[bool, typer.Option("--escalated", help="Only escalated ones.")] = False,
    limit: int = 50,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, whatever the width.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """The open exception queue, in working order (priority, escalation, then due time).
    Tracking number, code, due time and assignee are always shown whole; the other
    columns as the terminal's width allows (--wide: all of them)."""
    if ctx.invoked_subcommand is not None:
        return
    svc = service()
    local = wall_clock(svc)
    view = catch_up(svc, "exceptions").projection.view
    rows = view.open(overdue_at=svc.clock() if overdue else None,
                     code=str(code) if code else None, team=team, assignee=assignee,
                     breached=breached, escalated=escalated, limit=limit)
    if as_json:
        print_json(rows)
        return
    cells = []
    for r in rows:
        missed = ", ".join(name for name, col in (("1st", "first_response_breached_at"),
                                                  ("res", "resolution_breached_at")) if r[col])
        cells.append((r["tracking_no"], r["exception_id"][:8], r["code"], r["severity"],
                      r["team"], r["assignee"] or "—", r["customer_tier"], r["status"],
                      local(r["raised_at"]), local(r["next_due"]),
                      str(r["escalation_level"] or ""), missed))
    table = fitted(QUEUE_COLUMNS, cells, width=out.width, wide=wide,
                   title=f"{len(rows)} open exceptions" + (" past due" if overdue else ""))
    print_table(out, table)


def _exception_step(tracking_no: str, ref: str, as_json: bool, verb: str,
                    act: Callable[[Any], Step]) -> None:
    from parcelflow.application.exceptions import ExceptionWorkflow

    svc = service()
    workflow = ExceptionWorkflow(svc)
    with refusals():
        exc_id = act(workflow).case_id
        shown = workflow.show(tracking_no, exc_id)
    due = shown["first_response_due"] if shown["status"] == "open" and \
        shown["first_response_due"] else shown["resolution_due"]
    emit(shown, as_json,
         f"{tracking_no} {shown['code']} {exc_id[:8]} {verb}: {shown['status']}, "
         f"team {shown['team']}, assignee {shown['assignee'] or '—'}"
         + (f", outcome {shown['outcome']}" if shown["status"] == "resolved" else
            ", clocks stand still" if shown["waiting_since"] else
            f", due {wall_clock(svc)(due)}"))


@app.command("raise")
def raise_(tracking_no: TrackingArg,
           code: Annotated[ExceptionCode, typer.Argument(
               show_choices=False, help=one_of("The exception code.", ExceptionCode))],
           by: By,
           detail: Annotated[str, typer.Option(help="What is wrong.")] = "",
           as_json: JsonFlag = False) -> None:
    """Raise an exception by hand (a second one of an open code returns the open one)."""
    _exception_step(tracking_no, code, as_json, "raised", lambda d: d.raise_exception(
        tracking_no, code, by=by, detail=detail))


@app.command()
def acknowledge(tracking_no: TrackingArg, exception: ExcArg, by: By,
                as_json: JsonFlag = False) -> None:
    """First response: you are the exception's assignee from now on (first-contact
    responsibility)."""
    _exception_step(tracking_no, exception, as_json, "acknowledged",
                    lambda d: d.acknowledge(tracking_no, exception, by=by))


@app.command("hand-over")
def hand_over(tracking_no: TrackingArg, exception: ExcArg, by: By,
              to: Annotated[Optional[str], typer.Option("--to", help="The agent taking it.")]
              = None,
              team: Annotated[Optional[str], typer.Option(help="The team taking it.")] = None,
              note: Optional[str] = None, as_json: JsonFlag = False) -> None:
    """Pass an exception assigned to you to another agent and/or team."""
    _exception_step(tracking_no, exception, as_json, "handed over", lambda d: d.hand_over(
        tracking_no, exception, by=by, to_agent=to, to_team=team, note=note))


@app.command()
def contact(tracking_no: TrackingArg, exception: ExcArg, by: By,
            channel: Annotated[Channel, typer.Option(
                metavar="CHANNEL", help=one_of("How you spoke.", Channel))],
            summary: Annotated[Optional[str], typer.Option(
                help="What was said (sealed with the parcel's key; never logged).")] = None,
            as_json: JsonFlag = False) -> None:
    """Record a conversation with the customer about an exception."""
    _exception_step(tracking_no, exception, as_json, "customer contact recorded",
                    lambda d: d.contact(tracking_no, exception, channel, by=by, summary=summary))


@app.command()
def escalate(tracking_no: TrackingArg, exception: ExcArg, by: By,
             reason: Annotated[str, typer.Option(help="Why.")],
             to: Annotated[Optional[str], typer.Option(
                 help="Supervisor or team (default: the policy's escalation team).")] = None,
             assignee: Annotated[Optional[str], typer.Option(
                 "--assignee", help="Who has it from now on (a supervisor taking over, or "
                 "the assignee passing it up).")] = None,
             supervisor: Annotated[bool, typer.Option(
                 "--supervisor", help="You act as a supervisor: you may pass someone else's "
                 "exception to a new --assignee (the CLI trusts its operator; the API checks "
                 "the role).")] = False,
             as_json: JsonFlag = False) -> None:
    """Escalate an exception one level."""
    _exception_step(tracking_no, exception, as_json, "escalated", lambda d: d.escalate(
        tracking_no, exception, by=by, reason=reason, to=to, assignee=assignee,
        by_supervisor=supervisor))


@app.command()
def resolve(tracking_no: TrackingArg, exception: ExcArg, by: By,
            outcome: Annotated[StaffOutcome, typer.Option(  # type: ignore[valid-type]
                metavar="OUTCOME", help=one_of("How it ended.", StaffOutcome))],
            note: Optional[str] = None, as_json: JsonFlag = False) -> None:
    """Close an exception with its outcome."""
    result = Outcome(outcome.value)
    _exception_step(tracking_no, exception, as_json, "resolved", lambda d: d.resolve(
        tracking_no, exception, result, by=by, note=note))


@app.command()
def reopen(tracking_no: TrackingArg, exception: ExcArg, by: By,
           reason: Annotated[str, typer.Option(help="Why it is not over.")],
           as_json: JsonFlag = False) -> None:
    """Reopen a resolved exception: back to its assignee, on a fresh resolution clock."""
    _exception_step(tracking_no, exception, as_json, "reopened",
                    lambda d: d.reopen(tracking_no, exception, by=by, reason=reason))


class WaitingOn(StrEnum):
    CUSTOMER = "customer"
    THIRD_PARTY = "third_party"


@app.command("await")
def await_(tracking_no: TrackingArg, exception: ExcArg, by: By,
           on: Annotated[WaitingOn, typer.Option(
               metavar="WHOM", help=one_of("Who must answer.", WaitingOn))],
           reason: Annotated[Optional[str], typer.Option(
               help="What is asked of them (sealed).")] = None,
           as_json: JsonFlag = False) -> None:
    """Wait for the customer's or a third party's answer: the SLA clocks stand still."""
    status = ExceptionStatus(f"awaiting_{on.value}")
    _exception_step(tracking_no, exception, as_json, "waiting", lambda d: d.await_answer(
        tracking_no, exception, status, by=by, reason=reason))


@app.command()
def resume(tracking_no: TrackingArg, exception: ExcArg, by: By,
           note: Optional[str] = None, as_json: JsonFlag = False) -> None:
    """The answer came: the clocks run on from where they stood."""
    _exception_step(tracking_no, exception, as_json, "resumed",
                    lambda d: d.resume(tracking_no, exception, by=by, note=note))


@app.command()
def show(tracking_no: TrackingArg, exception: ExcArg,
         reveal: Annotated[bool, typer.Option(
             "--reveal", help="Open the sealed contact summaries.")] = False,
         as_json: JsonFlag = False) -> None:
    """One exception: its team, assignee, clocks, breaches, contacts, complaints and claims."""
    from parcelflow.application.exceptions import ExceptionWorkflow

    svc = service()
    with refusals():
        shown = ExceptionWorkflow(svc).show(tracking_no, exception, reveal=reveal)
    if as_json:
        print_json(shown)
        return
    local = wall_clock(svc)
    for key, value in shown.items():
        if key == "contacts":
            for c in value:
                out.print(f"  contact {local(c['at'])} {c['channel']} by {c['by']}: "
                          f"{c['summary'] or ''}", highlight=False)
        elif value not in (None, [], ""):
            out.print(f"{key}: {value}", highlight=False)
