"""Claims on the Parcel aggregate: filed on a recorded loss or damage, assessed by the
compensation policy (`domain/compensation.py`), approved or rejected, paid.

A parcel found again after its loss was declared is not paid for as lost.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from parcelflow.domain.compensation import Assessment, assess
from parcelflow.domain.errors import DomainError
from parcelflow.domain.ids import case_id
from parcelflow.domain.parcel_core import SYSTEM, ParcelCore, ParcelEvent
from parcelflow.domain.policy import Policy
from parcelflow.domain.records import ClaimRecord
from parcelflow.domain.vocabulary import CLAIM_EXCEPTION, WENT_AWAY, ClaimCause, ClaimStatus


class ClaimFiled(ParcelEvent):
    claim_id: str
    cause: str
    claimed: Decimal
    evidence: list[str]
    exception_id: str
    reference: str | None

    def on(self, parcel: ParcelCore) -> None:
        parcel.claims[self.claim_id] = ClaimRecord(
            claim_id=self.claim_id, cause=ClaimCause(self.cause),
            claimed=Decimal(self.claimed), evidence=tuple(self.evidence),
            exception_id=self.exception_id, reference=self.reference,
            filed_at=self.recorded_at, filed_by=self.operator_id or SYSTEM)
        before = parcel.exceptions[self.exception_id]
        parcel._update_exception(self.exception_id,
                                 claim_ids=(*before.claim_ids, self.claim_id))


class ClaimAssessed(ParcelEvent):
    claim_id: str
    payable: Decimal
    cap: Decimal
    basis: str
    explanation: str

    def on(self, parcel: ParcelCore) -> None:
        assessment = Assessment(Decimal(self.payable), Decimal(self.cap), self.basis,
                                self.explanation)
        parcel._update_claim(self.claim_id, status=ClaimStatus.ASSESSED,
                             assessment=assessment, assessed_at=self.recorded_at)


class ClaimApproved(ParcelEvent):
    claim_id: str
    amount: Decimal
    note: str | None

    def on(self, parcel: ParcelCore) -> None:
        parcel._update_claim(self.claim_id, status=ClaimStatus.APPROVED,
                             approved=Decimal(self.amount), decided_at=self.recorded_at,
                             decided_by=self.operator_id)


class ClaimRejected(ParcelEvent):
    claim_id: str
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel._update_claim(self.claim_id, status=ClaimStatus.REJECTED,
                             rejection=self.reason, decided_at=self.recorded_at,
                             decided_by=self.operator_id)


class ClaimPaid(ParcelEvent):
    claim_id: str
    amount: Decimal
    payment_ref: str

    def on(self, parcel: ParcelCore) -> None:
        parcel._update_claim(self.claim_id, status=ClaimStatus.PAID,
                             paid=Decimal(self.amount), paid_at=self.recorded_at,
                             payment_ref=self.payment_ref)


class ClaimCommands(ParcelCore):
    """Part of `Parcel`: a claim's life, from filing to payment."""

    def file_claim(self, cause: ClaimCause, claimed: Decimal, *, evidence: list[str], by: str,
                   recorded_at: datetime, reference: str | None = None) -> str:
        """A claim for compensation, standing on the recorded loss or damage."""
        if reference:
            for claim in self.claims.values():
                if claim.reference == reference:
                    return claim.claim_id
        if self.manifest is None:
            raise DomainError(f"{self.tracking_no} has no manifest: nothing to assess a "
                              "claim against (declared value, insurance, postage)")
        if not claimed.is_finite() or claimed <= 0 or claimed.as_tuple().exponent < -2:  # type: ignore[operator]
            raise DomainError("the claimed amount must be positive, in yuan and fen")
        if not [e for e in evidence if e.strip()]:
            raise DomainError("a claim needs at least one evidence reference")
        code = CLAIM_EXCEPTION[cause]
        standing = [r for r in self.exceptions.values()
                    if r.code == code and r.outcome not in WENT_AWAY]
        if not standing:
            raise DomainError(f"{self.tracking_no} has no {code} exception on record; a "
                              f"claim stands on a recorded {code} parcel (raise it first)")
        for claim in self.claims.values():
            if claim.cause == cause and claim.is_live:
                raise DomainError(f"{self.tracking_no} already has a {cause} claim "
                                  f"{claim.claim_id} ({claim.status})")
        # The open one if there is one, else the latest.
        target = max(standing, key=lambda r: (r.is_open, r.raised_at))
        claim_id = case_id(self.id, "claim", f"claim@{self.version + 1}")
        self._emit(ClaimFiled, recorded_at=recorded_at, operator_id=by, claim_id=claim_id,
                   cause=str(cause), claimed=claimed, evidence=[e for e in evidence if e.strip()],
                   exception_id=target.exception_id, reference=reference)
        return claim_id

    def _claim(self, claim_id: str, *allowed: ClaimStatus) -> ClaimRecord:
        claim = self.claims.get(claim_id)
        if claim is None:
            raise DomainError(f"{self.tracking_no} has no claim {claim_id}")
        if claim.status not in allowed:
            raise DomainError(f"claim {claim_id} is {claim.status}; this needs it "
                              + " or ".join(str(s) for s in allowed))
        return claim

    def _check_still_lost(self, claim: ClaimRecord) -> None:
        if claim.cause == ClaimCause.LOST and \
                self.exceptions[claim.exception_id].outcome in WENT_AWAY:
            raise DomainError(f"{self.tracking_no} was found again after the loss was "
                              "declared; reject this claim (or file one for damage)")

    def assess_claim(self, claim_id: str, policy: Policy, *, by: str,
                     recorded_at: datetime) -> Assessment:
        claim = self._claim(claim_id, ClaimStatus.FILED, ClaimStatus.ASSESSED)
        assert self.manifest is not None  # a claim is filed only on a manifested parcel
        result = assess(claimed=claim.claimed, insured=self.manifest.insured,
                        declared_value=self.manifest.declared_value,
                        postage=self.manifest.postage, policy=policy)
        self._emit(ClaimAssessed, recorded_at=recorded_at, operator_id=by,
                   claim_id=claim_id, payable=result.payable, cap=result.cap,
                   basis=result.basis, explanation=result.explanation)
        return result

    def approve_claim(self, claim_id: str, *, by: str, recorded_at: datetime,
                      amount: Decimal | None = None, note: str | None = None) -> Decimal:
        """Approve the assessed amount, or less (a settlement); never more than the
        policy allows."""
        claim = self._claim(claim_id, ClaimStatus.ASSESSED)
        assert claim.assessment is not None
        payable = claim.assessment.payable
        amount = payable if amount is None else amount
        if payable <= 0:
            raise DomainError(f"nothing is payable on claim {claim_id} "
                              f"({claim.assessment.explanation}); reject it with a reason")
        if not amount.is_finite() or amount <= 0 or amount > payable:
            raise DomainError(f"approve between 0.01 and the assessed {payable}, not {amount}")
        self._check_still_lost(claim)
        self._emit(ClaimApproved, recorded_at=recorded_at, operator_id=by,
                   claim_id=claim_id, amount=amount, note=note)
        return amount

    def reject_claim(self, claim_id: str, *, reason: str, by: str,
                     recorded_at: datetime) -> None:
        self._claim(claim_id, ClaimStatus.FILED, ClaimStatus.ASSESSED, ClaimStatus.APPROVED)
        if not reason.strip():
            raise DomainError("a rejection needs a reason")
        self._emit(ClaimRejected, recorded_at=recorded_at, operator_id=by,
                   claim_id=claim_id, reason=reason)

    def pay_claim(self, claim_id: str, *, payment_ref: str, by: str,
                  recorded_at: datetime) -> Decimal:
        claim = self._claim(claim_id, ClaimStatus.APPROVED)
        assert claim.approved is not None
        if not payment_ref.strip():
            raise DomainError("a payment needs the payment system's reference")
        self._check_still_lost(claim)
        self._emit(ClaimPaid, recorded_at=recorded_at, operator_id=by, claim_id=claim_id,
                   amount=claim.approved, payment_ref=payment_ref)
        return claim.approved
