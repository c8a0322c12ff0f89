"""CLI for exception management: the queue and its workflow, complaints, claims, detectors.

    parcelflow exceptions [--overdue] [--code C] [--owner TEAM] ...   the open queue
    parcelflow exceptions acknowledge|hand-over|contact|escalate|resolve|reopen|show|raise
    parcelflow complaints [...]  /  complaints file|close|show
    parcelflow claims [...]      /  claims file|assess|approve|reject|pay|show|report
    parcelflow detect [--every SECONDS]

Exceptions are named by id, a unique prefix of it (4+ characters), or their code (the
open one); complaints by id or prefix; claims by id, prefix or cause (the live one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, time as dtime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.table import Table

from parcelflow.application.errors import ParcelNotFound, TextTooLong
from parcelflow.application.results import Step
from parcelflow.domain.errors import DomainError
from parcelflow.domain.vocabulary import (
    Channel,
    ClaimCause,
    ComplaintCategory,
    ExceptionCode,
    Outcome,
    STAFF_OUTCOMES,
)
from parcelflow.entrypoints.cli import JsonFlag, err, fail, out, parse_time, service
from parcelflow.entrypoints.running import until_signalled
from parcelflow.settings import get_settings
from parcelflow.entrypoints.views_cli import _local, catch_up

T = TypeVar("T")

By = Annotated[str, typer.Option("--by", help="Who does this (agent or system id).")]
TrackingArg = Annotated[str, typer.Argument(help="The parcel's tracking number.")]
ExcArg = Annotated[str, typer.Argument(
    help="Exception id, a unique prefix of it, or its code (the open one).")]


def _choice(value: str, allowed: Any, what: str) -> Any:
    try:
        return allowed(value)
    except ValueError:
        fail(f"{value!r} is not a {what}; one of: {', '.join(str(v) for v in allowed)}", 2)


@contextmanager
def _refusals() -> Iterator[None]:
    """Refusals a user can act on, as one line and exit status 1."""
    try:
        yield
    except (DomainError, ParcelNotFound, TextTooLong) as e:
        fail(str(e))


def _emit(data: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        out.print(line, highlight=False, soft_wrap=True)


# ---- exceptions ------------------------------------------------------------------------

exceptions_app = typer.Typer(help="The exception queue and its workflow.", no_args_is_help=False)


@exceptions_app.callback(invoke_without_command=True)
def exceptions(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those past their due time.")]
    = False,
    code: Annotated[Optional[str], typer.Option(help="Only this exception code.")] = None,
    owner: Annotated[Optional[str], typer.Option(
        help="Only those this team must act on (the rule's owner, or the team it was handed to).")]
    = None,
    assignee: Annotated[Optional[str], typer.Option(help="Only those this person owns.")] = None,
    breached: Annotated[bool, typer.Option("--breached", help="Only those with a missed SLA.")]
    = False,
    escalated: Annotated[bool, typer.Option("--escalated", help="Only escalated ones.")] = False,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """The open exception queue, in working order (priority, escalation, then due time)."""
    if ctx.invoked_subcommand is not None:
        return
    svc = service()
    view = catch_up(svc, "exceptions").projection.view
    rows = view.open(overdue_at=svc.clock() if overdue else None, code=code, owner=owner,
                     assignee=assignee, breached=breached, escalated=escalated, limit=limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("parcel", "exception", "code", "severity", "team", "owner", "tier", "status",
                  "raised", "due", "esc", "breached", title=f"{len(rows)} open exceptions"
                  + (" past due" if overdue else ""), title_justify="left")
    for r in rows:
        missed = ", ".join(name for name, col in (("1st", "first_response_breached_at"),
                                                  ("res", "resolution_breached_at")) if r[col])
        table.add_row(r["tracking_no"], r["exception_id"][:8], r["code"], r["severity"],
                      r["owner"], r["assignee"] or "", r["customer_tier"], r["status"],
                      _local(r["raised_at"]), _local(r["next_due"]),
                      str(r["escalation_level"] or ""), missed)
    out.print(table)


def _exception_step(tracking_no: str, ref: str, as_json: bool, verb: str,
                    act: Callable[[Any], Step]) -> None:
    from parcelflow.application.exceptions import ExceptionWorkflow

    workflow = ExceptionWorkflow(service())
    with _refusals():
        exc_id = act(workflow).case_id
        shown = workflow.show(tracking_no, exc_id)
    due = shown["first_response_due"] if shown["status"] == "open" and \
        shown["first_response_due"] else shown["resolution_due"]
    _emit(shown, as_json,
          f"{tracking_no} {shown['code']} {exc_id[:8]} {verb}: {shown['status']}, "
          f"team {shown['must_act']}, owner {shown['assignee'] or '—'}"
          + (f", due {_local(due)}" if shown["status"] != "resolved" else
             f", outcome {shown['outcome']}"))


@exceptions_app.command("raise")
def raise_(tracking_no: TrackingArg, code: str, by: By,
           detail: Annotated[str, typer.Option(help="What is wrong.")] = "",
           as_json: JsonFlag = False) -> None:
    """Raise an exception by hand (a second one of an open code returns the open one)."""
    exc_code = _choice(code, ExceptionCode, "exception code")
    _exception_step(tracking_no, code, as_json, "raised", lambda d: d.raise_exception(
        tracking_no, exc_code, by=by, detail=detail))


@exceptions_app.command()
def acknowledge(tracking_no: TrackingArg, exception: ExcArg, by: By,
                as_json: JsonFlag = False) -> None:
    """First response: you own the exception from now on (first-contact responsibility)."""
    _exception_step(tracking_no, exception, as_json, "acknowledged",
                    lambda d: d.acknowledge(tracking_no, exception, by=by))


@exceptions_app.command("hand-over")
def hand_over(tracking_no: TrackingArg, exception: ExcArg, by: By,
              to: Annotated[Optional[str], typer.Option("--to", help="The agent taking it.")]
              = None,
              team: Annotated[Optional[str], typer.Option(help="The team taking it.")] = None,
              note: Optional[str] = None, as_json: JsonFlag = False) -> None:
    """Pass an exception you own to another agent and/or team."""
    _exception_step(tracking_no, exception, as_json, "handed over", lambda d: d.hand_over(
        tracking_no, exception, by=by, to_agent=to, to_team=team, note=note))


@exceptions_app.command()
def contact(tracking_no: TrackingArg, exception: ExcArg, by: By,
            channel: Annotated[str, typer.Option(help="phone, email, chat, app, ...")],
            summary: Annotated[Optional[str], typer.Option(
                help="What was said (sealed with the parcel's key; never logged).")] = None,
            as_json: JsonFlag = False) -> None:
    """Record a conversation with the customer about an exception."""
    how = _choice(channel, Channel, "channel")
    _exception_step(tracking_no, exception, as_json, "customer contact recorded",
                    lambda d: d.contact(tracking_no, exception, how, by=by, summary=summary))


@exceptions_app.command()
def escalate(tracking_no: TrackingArg, exception: ExcArg, by: By,
             reason: Annotated[str, typer.Option(help="Why.")],
             to: Annotated[Optional[str], typer.Option(
                 help="Supervisor or team (default: the policy's escalation team).")] = None,
             new_owner: Annotated[Optional[str], typer.Option(
                 "--new-owner", help="Who owns it from now on (a supervisor taking over).")]
             = None,
             as_json: JsonFlag = False) -> None:
    """Escalate an exception one level."""
    _exception_step(tracking_no, exception, as_json, "escalated", lambda d: d.escalate(
        tracking_no, exception, by=by, reason=reason, to=to, new_owner=new_owner))


@exceptions_app.command()
def resolve(tracking_no: TrackingArg, exception: ExcArg, by: By,
            outcome: Annotated[str, typer.Option(
                help=", ".join(sorted(str(o) for o in STAFF_OUTCOMES)))],
            note: Optional[str] = None, as_json: JsonFlag = False) -> None:
    """Close an exception with its outcome."""
    result = _choice(outcome, Outcome, "outcome")
    _exception_step(tracking_no, exception, as_json, "resolved", lambda d: d.resolve(
        tracking_no, exception, result, by=by, note=note))


@exceptions_app.command()
def reopen(tracking_no: TrackingArg, exception: ExcArg, by: By,
           reason: Annotated[str, typer.Option(help="Why it is not over.")],
           as_json: JsonFlag = False) -> None:
    """Reopen a resolved exception: back to its owner, on a fresh resolution clock."""
    _exception_step(tracking_no, exception, as_json, "reopened",
                    lambda d: d.reopen(tracking_no, exception, by=by, reason=reason))


@exceptions_app.command()
def show(tracking_no: TrackingArg, exception: ExcArg,
         reveal: Annotated[bool, typer.Option(
             "--reveal", help="Open the sealed contact summaries.")] = False,
         as_json: JsonFlag = False) -> None:
    """One exception: its owner, clocks, breaches, contacts, complaints and claims."""
    from parcelflow.application.exceptions import ExceptionWorkflow

    with _refusals():
        shown = ExceptionWorkflow(service()).show(tracking_no, exception, reveal=reveal)
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
        return
    for key, value in shown.items():
        if key == "contacts":
            for c in value:
                out.print(f"  contact {_local(c['at'])} {c['channel']} by {c['by']}: "
                          f"{c['summary'] or ''}", highlight=False)
        elif value not in (None, [], ""):
            out.print(f"{key}: {value}", highlight=False)


# ---- complaints ------------------------------------------------------------------------

complaints_app = typer.Typer(help="Customer complaints (on the 7-day complaint clock).")


@complaints_app.callback(invoke_without_command=True)
def complaints(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option(help="open or closed.")] = "open",
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
    view = catch_up(svc, "cases").projection.view
    rows = view.complaints(status=None if status == "all" else status,
                           overdue_at=svc.clock() if overdue else None, tracking_no=tracking_no,
                           limit=limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("parcel", "complaint", "category", "channel", "filed", "due", "status",
                  "links", title=f"{len(rows)} complaints", title_justify="left")
    for r in rows:
        table.add_row(r["tracking_no"], r["complaint_id"][:8], r["category"], r["channel"],
                      _local(r["filed_at"]), _local(r["due"]), r["status"],
                      str(len(r["links"])))
    out.print(table)


@complaints_app.command("file")
def file_complaint(
    tracking_no: TrackingArg, by: By,
    category: Annotated[str, typer.Option(help=", ".join(str(c) for c in ComplaintCategory))],
    channel: Annotated[str, typer.Option(help=", ".join(str(c) for c in Channel))],
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

    desk = Complaints(service())
    kind = _choice(category, ComplaintCategory, "complaint category")
    how = _choice(channel, Channel, "channel")
    with _refusals():
        cid = desk.file(tracking_no, kind, how, words=words, by=by, links=link,
                        reference=reference).case_id
        shown = desk.show(tracking_no, cid)
    _emit(shown, as_json, f"{tracking_no} complaint {cid[:8]} filed ({kind}, {how}); "
          f"linked to {len(shown['links'])} exception(s); due {_local(shown['due'])}")


@complaints_app.command("close")
def close_complaint(
    tracking_no: TrackingArg,
    complaint: Annotated[str, typer.Argument(help="Complaint id or a unique prefix.")],
    by: By,
    outcome: Annotated[str, typer.Option(help=", ".join(sorted(str(o) for o in STAFF_OUTCOMES)))],
    confirmed: Annotated[bool, typer.Option(
        "--confirmed", help="The customer confirmed the resolution.")] = False,
    reason: Annotated[Optional[str], typer.Option(
        help="Why it is closed without the customer's confirmation.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Close a complaint with the customer's confirmation or a recorded reason."""
    from parcelflow.application.complaints import Complaints

    desk = Complaints(service())
    result = _choice(outcome, Outcome, "outcome")
    with _refusals():
        cid = desk.close(tracking_no, complaint, result, by=by, customer_confirmed=confirmed,
                         reason=reason).case_id
        shown = desk.show(tracking_no, cid)
    _emit(shown, as_json, f"{tracking_no} complaint {cid[:8]} closed: {result}"
          + (" (customer confirmed)" if confirmed else f" ({reason})"))


@complaints_app.command("show")
def show_complaint(
    tracking_no: TrackingArg,
    complaint: Annotated[str, typer.Argument(help="Complaint id or a unique prefix.")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Open the customer's words.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """One complaint (the customer's words stay sealed unless --reveal)."""
    from parcelflow.application.complaints import Complaints

    with _refusals():
        shown = Complaints(service()).show(tracking_no, complaint, reveal=reveal)
    _emit(shown, as_json, "\n".join(f"{k}: {v}" for k, v in shown.items()
                                     if v not in (None, [], "")))


# ---- claims ----------------------------------------------------------------------------

claims_app = typer.Typer(help="Claims and compensation.")
ClaimArg = Annotated[str, typer.Argument(
    help="Claim id, a unique prefix of it, or its cause (the live one).")]


def _money(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        fail(f"{value!r} is not an amount, e.g. 120.50", 2)
    return amount


@claims_app.callback(invoke_without_command=True)
def claims(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option(
        help="filed, assessed, approved, rejected or paid.")] = None,
    tracking_no: Annotated[Optional[str], typer.Option("--tracking-no")] = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """Claims, the oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    svc = service()  # held: the view's connections close with it
    view = catch_up(svc, "cases").projection.view
    rows = view.claims(status=status, tracking_no=tracking_no, limit=limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("parcel", "claim", "cause", "status", "claimed", "payable", "approved", "paid",
                  "filed", title=f"{len(rows)} claims", title_justify="left")
    for r in rows:
        table.add_row(r["tracking_no"], r["claim_id"][:8], r["cause"], r["status"], r["claimed"],
                      r["payable"] or "", r["approved"] or "", r["paid"] or "",
                      _local(r["filed_at"]))
    out.print(table)


def _claim_step(tracking_no: str, as_json: bool, act: Callable[[Any], Any],
                line: Callable[[dict[str, Any]], str], ref: str | None = None) -> None:
    from parcelflow.application.claims import Claims

    desk = Claims(service())
    with _refusals():
        step = act(desk)
        shown = desk.show(tracking_no, step.case_id if step is not None else ref)
    _emit(shown, as_json, line(shown))


@claims_app.command("file")
def file_claim(
    tracking_no: TrackingArg, by: By,
    cause: Annotated[str, typer.Option(help="lost or damaged.")],
    amount: Annotated[str, typer.Option(help="The loss claimed, in yuan (e.g. 850.00).")],
    evidence: Annotated[list[str], typer.Option(
        help="A reference to a photo, invoice, ... (repeatable; at least one).")],
    reference: Annotated[Optional[str], typer.Option(help="The claim's own number.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """File a claim for a lost or damaged parcel."""
    why = _choice(cause, ClaimCause, "claim cause")
    claimed = _money(amount)
    _claim_step(tracking_no, as_json, lambda d: d.file(
        tracking_no, why, claimed, evidence=evidence, by=by, reference=reference),
        lambda c: f"{tracking_no} claim {c['claim_id'][:8]} filed: {c['cause']}, "
                  f"claimed {c['claimed']}")


@claims_app.command()
def assess(tracking_no: TrackingArg, claim: ClaimArg, by: By, as_json: JsonFlag = False) -> None:
    """Assess a claim by the compensation policy."""
    _claim_step(tracking_no, as_json, lambda d: d.assess(tracking_no, claim, by=by),
                lambda c: f"{tracking_no} claim {c['claim_id'][:8]}: payable "
                          f"{c['assessment']['payable']} — {c['assessment']['explanation']}",
                ref=claim)


@claims_app.command()
def approve(tracking_no: TrackingArg, claim: ClaimArg, by: By,
            amount: Annotated[Optional[str], typer.Option(
                help="Less than assessed, as a settlement (default: the assessed amount).")]
            = None,
            note: Optional[str] = None, as_json: JsonFlag = False) -> None:
    """Approve an assessed claim."""
    value = _money(amount) if amount is not None else None
    _claim_step(tracking_no, as_json, lambda d: d.approve(
        tracking_no, claim, by=by, amount=value, note=note),
        lambda c: f"{tracking_no} claim {c['claim_id'][:8]} approved: {c['approved']}", ref=claim)


@claims_app.command()
def reject(tracking_no: TrackingArg, claim: ClaimArg, by: By,
           reason: Annotated[str, typer.Option(help="Why (told to the claimant).")],
           as_json: JsonFlag = False) -> None:
    """Reject a claim with a reason."""
    _claim_step(tracking_no, as_json, lambda d: d.reject(tracking_no, claim, by=by,
                                                         reason=reason),
                lambda c: f"{tracking_no} claim {c['claim_id'][:8]} rejected: {reason}",
                ref=claim)


@claims_app.command()
def pay(tracking_no: TrackingArg, claim: ClaimArg, by: By,
        payment_ref: Annotated[str, typer.Option("--payment-ref",
                                                 help="The payment system's reference.")],
        as_json: JsonFlag = False) -> None:
    """Record the payment of an approved claim."""
    _claim_step(tracking_no, as_json, lambda d: d.pay(tracking_no, claim, by=by,
                                                      payment_ref=payment_ref),
                lambda c: f"{tracking_no} claim {c['claim_id'][:8]} paid: {c['paid']} "
                          f"({c['payment_ref']})", ref=claim)


@claims_app.command("show")
def show_claim(tracking_no: TrackingArg, claim: ClaimArg, as_json: JsonFlag = False) -> None:
    """One claim with its assessment."""
    _claim_step(tracking_no, as_json, lambda d: None,
                lambda c: "\n".join(f"{k}: {v}" for k, v in c.items() if v not in (None, [])),
                ref=claim)


def _period_bound(value: str, zone: tzinfo) -> datetime:
    if len(value) == 10:  # a calendar day, at midnight in the network's time zone
        try:
            return datetime.combine(datetime.fromisoformat(value).date(), dtime(), zone)
        except ValueError:
            fail(f"{value!r} is not a date (YYYY-MM-DD)", 2)
    return parse_time(value)


@claims_app.command()
def report(
    start: Annotated[str, typer.Option("--from", help="YYYY-MM-DD or an ISO time.")],
    end: Annotated[str, typer.Option("--to", help="YYYY-MM-DD (exclusive) or an ISO time.")],
    as_json: JsonFlag = False,
) -> None:
    """Claims per period: how many, how much, why; and what was paid out in it."""
    svc = service()
    zone = svc.network.zone
    view = catch_up(svc, "cases").projection.view
    result = view.report(_period_bound(start, zone), _period_bound(end, zone))
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    amounts = result["amounts"]
    out.print(f"Claims filed {start} to {end}: {result['claims']}; claimed {amounts['claimed']}, "
              f"assessed payable {amounts['assessed_payable']}, approved {amounts['approved']}, "
              f"paid {amounts['paid']} (CNY)", highlight=False)
    table = Table("cause", "claims", "claimed", "paid", box=None)
    for cause, row in result["by_cause"].items():
        table.add_row(cause, str(row["claims"]), row["claimed"], row["paid"])
    out.print(table)
    out.print("by status: " + ", ".join(f"{k} {v}" for k, v in result["by_status"].items()))
    paid = result["paid_in_period"]
    out.print(f"paid out in the period: {paid['payments']} payments, {paid['amount']} CNY")


# ---- detect ----------------------------------------------------------------------------


def detect(
    every: Annotated[Optional[float], typer.Option(
        "--every", min=1, help="Run a pass every SECONDS until interrupted (default: once).")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Detect stalled, delayed, lost and uncollected parcels and missed SLA clocks."""
    from parcelflow.application.detectors import Detectors, PassReport
    from parcelflow.bootstrap import build_service
    from parcelflow.projections.watchlist import Watchlist

    svc = build_service(cache_size=0)  # loads each flagged parcel fresh; nothing to cache
    watchlist = Watchlist(svc)
    detectors = Detectors(svc, watchlist)

    def show(report: PassReport) -> None:
        data = report.to_json()
        if as_json:
            print(json.dumps(data), flush=True)
            return
        raised = ", ".join(f"{k} {v}" for k, v in data["raised"].items()) or "nothing new"
        breaches = ", ".join(f"{k} {v}" for k, v in data["sla_breaches"].items()) or "none"
        out.print(f"{data['at']}: {data['candidates']} candidates, raised {raised}; "
                  f"{data['eta_revised']} ETAs revised; SLA breaches {breaches}; "
                  f"{data['seconds']:.2f} s", highlight=False)

    try:
        if every is None:
            show(detectors.run_pass())
            return
        stop = until_signalled(get_settings(), "detect")
        err.print(f"detecting every {every:g} s (Ctrl-C stops)")
        detectors.run_every(every, stop, on_pass=show)
    finally:
        watchlist.close()
        svc.close()


def register(app: typer.Typer) -> None:
    app.add_typer(exceptions_app, name="exceptions")
    app.add_typer(complaints_app, name="complaints")
    app.add_typer(claims_app, name="claims")
    app.command()(detect)
