"""Claims and compensation: file, assess by policy, approve or reject, pay.

The amounts are the domain's (policy applied to the parcel's manifest); this module
runs each step as a command on the parcel, with the service's clock and policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from parcelflow.application.service import ParcelService
from parcelflow.domain.compensation import Assessment
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.vocabulary import ClaimCause

log = structlog.get_logger(__name__)


@dataclass
class ClaimsDesk:
    service: ParcelService

    def file(self, tracking_no: str, cause: ClaimCause, claimed: Decimal, *,
             evidence: list[str], by: str, reference: str | None = None) -> str:
        now = self.service.clock()
        claim_id = self.service.command(tracking_no, lambda p: p.file_claim(
            cause, claimed, evidence=evidence, by=by, recorded_at=now, reference=reference))
        log.info("claim.filed", tracking_no=tracking_no, claim_id=claim_id, cause=str(cause))
        return claim_id

    def _step(self, tracking_no: str, ref: str, step: str, act: Any) -> Any:
        now = self.service.clock()

        def run(parcel: Parcel) -> tuple[str, Any]:
            claim = parcel.find_claim(ref)
            return claim.claim_id, act(parcel, claim.claim_id, now)

        claim_id, result = self.service.command(tracking_no, run)
        log.info(f"claim.{step}", tracking_no=tracking_no, claim_id=claim_id)
        return result

    def assess(self, tracking_no: str, ref: str, *, by: str) -> Assessment:
        policy = self.service.policy
        return self._step(tracking_no, ref, "assessed", lambda p, cid, now: p.assess_claim(
            cid, policy, by=by, recorded_at=now))

    def approve(self, tracking_no: str, ref: str, *, by: str, amount: Decimal | None = None,
                note: str | None = None) -> Decimal:
        return self._step(tracking_no, ref, "approved", lambda p, cid, now: p.approve_claim(
            cid, by=by, recorded_at=now, amount=amount, note=note))

    def reject(self, tracking_no: str, ref: str, *, by: str, reason: str) -> None:
        self._step(tracking_no, ref, "rejected", lambda p, cid, now: p.reject_claim(
            cid, reason=reason, by=by, recorded_at=now))

    def pay(self, tracking_no: str, ref: str, *, by: str, payment_ref: str) -> Decimal:
        return self._step(tracking_no, ref, "paid", lambda p, cid, now: p.pay_claim(
            cid, payment_ref=payment_ref, by=by, recorded_at=now))

    def show(self, tracking_no: str, ref: str) -> dict[str, Any]:
        parcel = self.service.get(tracking_no)
        c = parcel.find_claim(ref)
        a = c.assessment
        return {
            "claim_id": c.claim_id, "tracking_no": tracking_no, "cause": str(c.cause),
            "status": str(c.status), "claimed": str(c.claimed), "evidence": list(c.evidence),
            "exception_id": c.exception_id, "reference": c.reference,
            "filed_at": c.filed_at.isoformat(), "filed_by": c.filed_by,
            "assessment": None if a is None else {
                "payable": str(a.payable), "cap": str(a.cap), "basis": a.basis,
                "explanation": a.explanation},
            "approved": None if c.approved is None else str(c.approved),
            "rejection": c.rejection,
            "paid": None if c.paid is None else str(c.paid), "payment_ref": c.payment_ref,
        }
