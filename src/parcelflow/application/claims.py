"""Claims and compensation, as the claims team works them: file, assess by policy,
approve or reject, pay, show. One service for the CLI, the API and the staff pages.

The amounts are the domain's (the compensation policy applied to the parcel's
manifest); each step runs as a command on the parcel with the service's clock and
policy, and answers with the claim's id, what it decided, and the log position. What may
name a person — the evidence references, an approval's note, a rejection's reason — is
sealed with the parcel's key, and opened only on request (`show` with `reveal`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from parcelflow.application.results import Step
from parcelflow.application.service import ParcelService
from parcelflow.domain.compensation import Assessment
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.vocabulary import ClaimCause

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ClaimStep(Step):
    assessment: Assessment | None = None  # what `assess` found payable, and why
    amount: Decimal | None = None  # what `approve` approved, or `pay` paid


@dataclass
class Claims:
    service: ParcelService

    def file(self, tracking_no: str, cause: ClaimCause, claimed: Decimal, *,
             evidence: list[str], by: str, reference: str | None = None) -> ClaimStep:
        """A claim for a lost or damaged parcel, standing on its recorded loss or
        damage. Filed again with the same `reference`, it answers with the first one."""
        now = self.service.clock()
        # References to photos and invoices may name people: sealed like other free text
        # (blank ones left for the parcel to refuse).
        sealed = [text for e in evidence if (text := self._seal(tracking_no, e))]
        done = self.service.command(tracking_no, lambda p: p.file_claim(
            cause, claimed, evidence=sealed or evidence, by=by, recorded_at=now,
            reference=reference))
        log.info("claim.filed", tracking_no=tracking_no, claim_id=done.value, cause=str(cause))
        return ClaimStep(tracking_no, done.position, done.value)

    def _seal(self, tracking_no: str, text: str | None) -> str | None:
        return self.service.personal.seal_text(parcel_id(tracking_no), text)

    def _step(self, tracking_no: str, ref: str, step: str,
              act: Callable[[Parcel, str, datetime], Any]) -> tuple[str, int, Any]:
        now = self.service.clock()

        def run(parcel: Parcel) -> tuple[str, Any]:
            claim = parcel.find_claim(ref)
            return claim.claim_id, act(parcel, claim.claim_id, now)

        done = self.service.command(tracking_no, run)
        claim_id, result = done.value
        log.info(f"claim.{step}", tracking_no=tracking_no, claim_id=claim_id)
        return claim_id, done.position, result

    def assess(self, tracking_no: str, ref: str, *, by: str) -> ClaimStep:
        policy = self.service.policy
        claim_id, position, assessment = self._step(
            tracking_no, ref, "assessed", lambda p, cid, now: p.assess_claim(
                cid, policy, by=by, recorded_at=now))
        return ClaimStep(tracking_no, position, claim_id, assessment=assessment)

    def approve(self, tracking_no: str, ref: str, *, by: str, amount: Decimal | None = None,
                note: str | None = None) -> ClaimStep:
        """Approve the assessed amount, or less (a settlement)."""
        note = self._seal(tracking_no, note)
        claim_id, position, approved = self._step(
            tracking_no, ref, "approved", lambda p, cid, now: p.approve_claim(
                cid, by=by, recorded_at=now, amount=amount, note=note))
        return ClaimStep(tracking_no, position, claim_id, amount=approved)

    def reject(self, tracking_no: str, ref: str, *, by: str, reason: str) -> ClaimStep:
        reason = self._seal(tracking_no, reason) or reason
        claim_id, position, _ = self._step(
            tracking_no, ref, "rejected", lambda p, cid, now: p.reject_claim(
                cid, reason=reason, by=by, recorded_at=now))
        return ClaimStep(tracking_no, position, claim_id)

    def pay(self, tracking_no: str, ref: str, *, by: str, payment_ref: str) -> ClaimStep:
        claim_id, position, paid = self._step(
            tracking_no, ref, "paid", lambda p, cid, now: p.pay_claim(
                cid, payment_ref=payment_ref, by=by, recorded_at=now))
        return ClaimStep(tracking_no, position, claim_id, amount=paid)

    def show(self, tracking_no: str, ref: str, *, reveal: bool = False) -> dict[str, Any]:
        """One claim (its evidence references and rejection reason sealed unless
        `reveal`)."""
        parcel = self.service.get(tracking_no)
        c = parcel.find_claim(ref)
        a = c.assessment

        def opened(text: str | None) -> str | None:
            return self.service.personal.open_text(parcel.id, text, reveal=reveal)

        return {
            "claim_id": c.claim_id, "tracking_no": tracking_no, "cause": str(c.cause),
            "status": str(c.status), "claimed": str(c.claimed),
            "evidence": [opened(e) for e in c.evidence],
            "exception_id": c.exception_id, "reference": c.reference,
            "filed_at": c.filed_at.isoformat(), "filed_by": c.filed_by,
            "assessment": None if a is None else {
                "payable": str(a.payable), "cap": str(a.cap), "basis": a.basis,
                "explanation": a.explanation},
            "approved": None if c.approved is None else str(c.approved),
            "rejection": opened(c.rejection),
            "paid": None if c.paid is None else str(c.paid), "payment_ref": c.payment_ref,
        }
