"""`parcelflow claims`: claims for lost or damaged parcels, and their compensation.

    parcelflow claims [--status S] [--tracking-no N]   the list, the oldest first
    parcelflow claims file|assess|approve|reject|pay|show|report

Claims are named by id, a unique prefix of it, or their cause (the live one).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from parcelflow.domain.vocabulary import ClaimCause, ClaimStatus
from parcelflow.entrypoints.cli_support import (
    By,
    JsonFlag,
    TrackingArg,
    catch_up,
    emit,
    fail,
    one_of,
    out,
    period_bound,
    print_json,
    refusals,
    service,
    wall_clock,
)

app = typer.Typer(help="Claims and compensation.")

ClaimArg = Annotated[str, typer.Argument(
    help="Claim id, a unique prefix of it, or its cause (the live one).")]


def _money(value: str) -> Decimal:
    from parcelflow.wire.common import parse_money  # the wire's bounds: digits and scale

    try:
        return parse_money(value)
    except ValueError as e:
        fail(f"amount: {e}", 2)


@app.callback(invoke_without_command=True)
def claims(
    ctx: typer.Context,
    status: Annotated[Optional[ClaimStatus], typer.Option(
        metavar="STATUS", help=one_of("Only those in this status.", ClaimStatus))] = None,
    tracking_no: Annotated[Optional[str], typer.Option("--tracking-no")] = None,
    limit: int = 50,
    as_json: JsonFlag = False,
) -> None:
    """Claims, the oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    svc = service()  # held: the view's connections close with it
    local = wall_clock(svc)
    view = catch_up(svc, "cases").projection.view
    rows = view.claims(status=str(status) if status else None, tracking_no=tracking_no,
                       limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("parcel", "claim", "cause", "status", "claimed", "payable", "approved", "paid",
                  "filed", title=f"{len(rows)} claims", title_justify="left")
    for r in rows:
        table.add_row(r["tracking_no"], r["claim_id"][:8], r["cause"], r["status"], r["claimed"],
                      r["payable"] or "", r["approved"] or "", r["paid"] or "",
                      local(r["filed_at"]))
    out.print(table)


def _claim_step(tracking_no: str, as_json: bool, act: Callable[[Any], Any],
                line: Callable[[dict[str, Any]], str], ref: str | None = None,
                reveal: bool = False) -> None:
    from parcelflow.application.claims import Claims

    claims = Claims(service())
    with refusals():
        step = act(claims)
        shown = claims.show(tracking_no, step.case_id if step is not None else ref,
                            reveal=reveal)
    emit(shown, as_json, line(shown))


@app.command("file")
def file_claim(
    tracking_no: TrackingArg, by: By,
    cause: Annotated[ClaimCause, typer.Option(help="What happened to the parcel.")],
    amount: Annotated[str, typer.Option(help="The loss claimed, in yuan (e.g. 850.00).")],
    evidence: Annotated[list[str], typer.Option(
        help="A reference to a photo, invoice, ... (repeatable; at least one).")],
    reference: Annotated[Optional[str], typer.Option(help="The claim's own number.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """File a claim for a lost or damaged parcel."""
    claimed = _money(amount)
    _claim_step(tracking_no, as_json, lambda d: d.file(
        tracking_no, cause, claimed, evidence=evidence, by=by, reference=reference),
        lambda c: f"{tracking_no} claim {c['claim_id'][:8]} filed: {c['cause']}, "
                  f"claimed {c['claimed']}")


@app.command()
def assess(tracking_no: TrackingArg, claim: ClaimArg, by: By, as_json: JsonFlag = False) -> None:
    """Assess a claim by the compensation policy."""
    _claim_step(tracking_no, as_json, lambda d: d.assess(tracking_no, claim, by=by),
                lambda c: f"{tracking_no} claim {c['claim_id'][:8]}: payable "
                          f"{c['assessment']['payable']} — {c['assessment']['explanation']}",
                ref=claim)


@app.command()
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


@app.command()
def reject(tracking_no: TrackingArg, claim: ClaimArg, by: By,
           reason: Annotated[str, typer.Option(help="Why (told to the claimant).")],
           as_json: JsonFlag = False) -> None:
    """Reject a claim with a reason."""
    _claim_step(tracking_no, as_json, lambda d: d.reject(tracking_no, claim, by=by,
                                                         reason=reason),
                lambda c: f"{tracking_no} claim {c['claim_id'][:8]} rejected: {reason}",
                ref=claim)


@app.command()
def pay(tracking_no: TrackingArg, claim: ClaimArg, by: By,
        payment_ref: Annotated[str, typer.Option("--payment-ref",
                                                 help="The payment system's reference.")],
        as_json: JsonFlag = False) -> None:
    """Record the payment of an approved claim."""
    _claim_step(tracking_no, as_json, lambda d: d.pay(tracking_no, claim, by=by,
                                                      payment_ref=payment_ref),
                lambda c: f"{tracking_no} claim {c['claim_id'][:8]} paid: {c['paid']} "
                          f"({c['payment_ref']})", ref=claim)


@app.command("show")
def show_claim(tracking_no: TrackingArg, claim: ClaimArg, as_json: JsonFlag = False,
               reveal: Annotated[bool, typer.Option(
                   "--reveal", help="Open the evidence references and the rejection's "
                   "reason unmasked.")] = False) -> None:
    """One claim with its assessment (what may name a person stays sealed unless --reveal)."""
    _claim_step(tracking_no, as_json, lambda d: None,
                lambda c: "\n".join(f"{k}: {v}" for k, v in c.items() if v not in (None, [])),
                ref=claim, reveal=reveal)


@app.command()
def report(
    start: Annotated[str, typer.Option("--from", help="YYYY-MM-DD or an ISO time.")],
    end: Annotated[str, typer.Option("--to", help="YYYY-MM-DD (exclusive) or an ISO time.")],
    as_json: JsonFlag = False,
) -> None:
    """Claims per period: how many, how much, why; and what was paid out in it."""
    svc = service()
    zone = svc.network.zone
    view = catch_up(svc, "cases").projection.view
    result = view.report(period_bound(start, zone), period_bound(end, zone))
    if as_json:
        print_json(result)
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

