"""Compensation: what a lost or damaged parcel is worth to its customer.

The rule is the carrier's published one: an insured parcel is compensated up to its
declared value; an uninsured one gets the lesser of the loss claimed and a multiple of
the postage paid (k = 3 by default). Money is Decimal, rounded to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from parcelflow.domain.policy import Policy


@dataclass(frozen=True)
class Assessment:
    payable: Decimal  # the most the policy allows paying on this claim
    cap: Decimal  # the policy's ceiling for this parcel
    basis: str  # "insured" or "uninsured"
    explanation: str


def money(value: Decimal, policy: Policy) -> Decimal:
    return value.quantize(policy.money_quantum, rounding=ROUND_HALF_UP)


def assess(*, claimed: Decimal, insured: bool, declared_value: Decimal, postage: Decimal,
           policy: Policy) -> Assessment:
    """What the policy pays on a claim, and why, in words a claimant can check."""
    claimed = money(claimed, policy)
    if insured:
        cap = money(declared_value, policy)
        basis, ceiling = "insured", f"the declared value {cap}"
    else:
        k = policy.uninsured_postage_multiple
        cap = money(postage * k, policy)
        basis, ceiling = "uninsured", f"{k} × the postage {money(postage, policy)} = {cap}"
    payable = max(min(claimed, cap), Decimal(0))
    if cap == 0:
        why = ("nothing was declared" if insured
               else "no postage was paid") + f", so the cap is {ceiling}: nothing is payable"
    elif claimed > cap:
        why = f"claimed {claimed} is above {ceiling}: capped at {payable}"
    else:
        why = f"claimed {claimed} is within {ceiling}: payable in full"
    return Assessment(payable=money(payable, policy), cap=cap, basis=basis,
                      explanation=f"{basis}: {why}")
