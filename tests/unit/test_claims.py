"""Compensation by policy, and a claim's life on the parcel."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from parcelflow.domain.compensation import assess
from parcelflow.domain.errors import DomainError
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import Policy
from parcelflow.domain.vocabulary import ClaimCause, ClaimStatus, ExceptionCode, Outcome
from tests.support.builders import T0, as_scans, journey, scan, sealed_manifest

NOW = T0 + timedelta(days=3)
POLICY = Policy()
D = Decimal


def pay(claimed, *, insured, declared="1200.00", postage="18.00", policy=POLICY):
    return assess(claimed=D(claimed), insured=insured, declared_value=D(declared),
                  postage=D(postage), policy=policy)


@pytest.mark.parametrize(("claimed", "insured", "declared", "postage", "payable", "cap"), [
    # insured: up to the declared value
    ("800.00", True, "1200.00", "18.00", "800.00", "1200.00"),
    ("1200.00", True, "1200.00", "18.00", "1200.00", "1200.00"),
    ("1500.00", True, "1200.00", "18.00", "1200.00", "1200.00"),  # above the declared value
    ("50.00", True, "0.00", "18.00", "0.00", "0.00"),  # insured, nothing declared
    # uninsured: the lesser of the claimed loss and 3 x postage
    ("40.00", False, "1200.00", "18.00", "40.00", "54.00"),
    ("800.00", False, "1200.00", "18.00", "54.00", "54.00"),
    ("800.00", False, "1200.00", "0.00", "0.00", "0.00"),  # zero postage: nothing payable
    ("10.005", False, "1200.00", "18.00", "10.01", "54.00"),  # rounded to the fen, half up
    ("100.00", False, "1200.00", "12.35", "37.05", "37.05"),
])
def test_compensation_follows_the_policy(claimed, insured, declared, postage, payable, cap):
    result = pay(claimed, insured=insured, declared=declared, postage=postage)
    assert (result.payable, result.cap) == (D(payable), D(cap))
    assert result.basis == ("insured" if insured else "uninsured")
    assert isinstance(result.payable, Decimal)


def test_the_assessment_explains_itself():
    assert pay("1500.00", insured=True).explanation == (
        "insured: claimed 1500.00 is above the declared value 1200.00: capped at 1200.00")
    assert "no postage was paid" in pay("80.00", insured=False, postage="0").explanation
    assert pay("40.00", insured=False).explanation == (
        "uninsured: claimed 40.00 is within 3 × the postage 18.00 = 54.00: payable in full")


def test_the_postage_multiple_is_policy():
    assert pay("800.00", insured=False, policy=replace(POLICY, uninsured_postage_multiple=D(5))
               ).payable == D("90.00")


def lost_parcel(**manifest) -> Parcel:
    parcel = Parcel.register(sealed_manifest(**manifest), recorded_at=T0 - timedelta(hours=1))
    parcel.record_scans(as_scans(*journey()[:5]), recorded_at=NOW)
    parcel.raise_exception(ExceptionCode.LOST, recorded_at=NOW, by="detector:lost")
    return parcel


def test_a_claim_is_filed_assessed_approved_and_paid_as_events():
    parcel = lost_parcel(insured=False, postage=D("18.00"))
    claim_id = parcel.file_claim(ClaimCause.LOST, D("300.00"), evidence=["invoice-778.pdf"],
                                 by="cs-1", recorded_at=NOW)
    [lost] = [r for r in parcel.exceptions.values() if r.code == ExceptionCode.LOST]
    assert parcel.claims[claim_id].exception_id == lost.exception_id
    assert lost.exception_id in {r.exception_id for r in parcel.exceptions.values()
                                 if claim_id in r.claim_ids}
    assessment = parcel.assess_claim(claim_id, POLICY, by="adjuster-2", recorded_at=NOW)
    assert assessment.payable == D("54.00")
    with pytest.raises(DomainError, match="between 0.01 and the assessed 54.00"):
        parcel.approve_claim(claim_id, by="mgr-1", recorded_at=NOW, amount=D("60.00"))
    assert parcel.approve_claim(claim_id, by="mgr-1", recorded_at=NOW) == D("54.00")
    assert parcel.pay_claim(claim_id, payment_ref="PAY-1", by="finance", recorded_at=NOW) \
        == D("54.00")
    claim = parcel.claims[claim_id]
    assert (claim.status, claim.paid, claim.payment_ref) == (ClaimStatus.PAID, D("54.00"), "PAY-1")
    kinds = [type(e).__name__ for e in parcel.collect_events()]
    assert kinds[-4:] == ["ClaimFiled", "ClaimAssessed", "ClaimApproved", "ClaimPaid"]


def test_claims_stand_on_a_recorded_problem_and_refuse_what_the_policy_does_not_allow():
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    with pytest.raises(DomainError, match="no lost exception on record"):
        parcel.file_claim(ClaimCause.LOST, D("10"), evidence=["x"], by="cs", recorded_at=NOW)
    parcel = lost_parcel(insured=False, postage=D("0.00"))
    for bad, why in ((D("0"), "positive"), (D("-5"), "positive"), (D("1.234"), "fen")):
        with pytest.raises(DomainError, match=why):
            parcel.file_claim(ClaimCause.LOST, bad, evidence=["x"], by="cs", recorded_at=NOW)
    with pytest.raises(DomainError, match="evidence"):
        parcel.file_claim(ClaimCause.LOST, D("10"), evidence=[" "], by="cs", recorded_at=NOW)
    claim_id = parcel.file_claim(ClaimCause.LOST, D("500"), evidence=["photo-1"], by="cs",
                                 recorded_at=NOW, reference="CLM-9")
    assert parcel.file_claim(ClaimCause.LOST, D("500"), evidence=["photo-1"], by="cs",
                             recorded_at=NOW, reference="CLM-9") == claim_id
    with pytest.raises(DomainError, match="already has a lost claim"):
        parcel.file_claim(ClaimCause.LOST, D("400"), evidence=["p"], by="cs", recorded_at=NOW)
    with pytest.raises(DomainError, match="is filed"):
        parcel.approve_claim(claim_id, by="mgr", recorded_at=NOW)  # not assessed yet
    assert parcel.assess_claim(claim_id, POLICY, by="adj", recorded_at=NOW).payable == 0
    with pytest.raises(DomainError, match="nothing is payable"):
        parcel.approve_claim(claim_id, by="mgr", recorded_at=NOW)  # zero postage, uninsured
    with pytest.raises(DomainError, match="reason"):
        parcel.reject_claim(claim_id, reason=" ", by="mgr", recorded_at=NOW)
    parcel.reject_claim(claim_id, reason="uninsured, no postage paid", by="mgr", recorded_at=NOW)
    # Rejected: room for a new claim.
    parcel.file_claim(ClaimCause.LOST, D("400"), evidence=["p"], by="cs", recorded_at=NOW)


def test_a_parcel_found_again_is_not_paid_for_as_lost():
    parcel = lost_parcel()
    claim_id = parcel.file_claim(ClaimCause.LOST, D("900"), evidence=["inv"], by="cs",
                                 recorded_at=NOW)
    parcel.assess_claim(claim_id, POLICY, by="adj", recorded_at=NOW)
    parcel.record_scans(as_scans(scan("arrival", "SHA-HUB-02", 80)),
                        recorded_at=NOW + timedelta(hours=1))
    with pytest.raises(DomainError, match="found again"):
        parcel.approve_claim(claim_id, by="mgr", recorded_at=NOW)
    parcel.reject_claim(claim_id, reason="parcel found", by="mgr", recorded_at=NOW)
    with pytest.raises(DomainError, match="no lost exception on record"):
        parcel.file_claim(ClaimCause.LOST, D("900"), evidence=["inv"], by="cs", recorded_at=NOW)


def test_a_damage_claim_links_to_the_damage_even_after_it_was_resolved():
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0)
    parcel.record_scans(as_scans(*journey()[:3], scan("exception", "SZX-HUB-01", 2.2,
                                                      exception_code="damaged")), recorded_at=NOW)
    [damaged] = parcel.open_exceptions
    parcel.resolve_exception(damaged.exception_id, Outcome.RESHIPPED, by="cs", recorded_at=NOW)
    claim_id = parcel.file_claim(ClaimCause.DAMAGED, D("1500.00"), evidence=["photo"],
                                 by="cs", recorded_at=NOW)
    assert parcel.find_claim("damaged").claim_id == claim_id
    assert parcel.assess_claim(claim_id, POLICY, by="adj", recorded_at=NOW).payable == D("1200.00")
