"""The workflow's rules on the parcel itself: assignees, clocks, detection decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parcelflow.bootstrap import load_network
from parcelflow.domain import sla
from parcelflow.domain.detection import findings
from parcelflow.domain.errors import DomainError, NotPermitted
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import Policy
from parcelflow.domain.vocabulary import (
    Channel,
    ComplaintCategory,
    CustomerTier,
    ExceptionCode,
    ExceptionStatus,
    Outcome,
    SlaClock,
    Status,
)
from tests.support.builders import T0, as_scans, journey, scan, sealed_manifest

NOW = T0 + timedelta(days=3)
POLICY = Policy()
NETWORK = load_network()


def parcel_with(code=ExceptionCode.ADDRESS_ISSUE, **manifest):
    parcel = Parcel.register(sealed_manifest(**manifest), recorded_at=T0)
    return parcel, parcel.raise_exception(code, recorded_at=NOW, by="cs-1")


def test_the_first_to_answer_owns_it_until_it_is_handed_over_or_taken_by_escalation():
    parcel, exc = parcel_with()
    parcel.acknowledge_exception(exc, by="anna", recorded_at=NOW)
    for act in (lambda: parcel.resolve_exception(exc, Outcome.NO_FAULT, by="bob", recorded_at=NOW),
                lambda: parcel.hand_over(exc, by="bob", to_agent="bob", recorded_at=NOW)):
        with pytest.raises(DomainError, match="assigned to anna"):
            act()
    parcel.record_contact(exc, Channel.CHAT, summary_sealed=None, by="bob", recorded_at=NOW)
    parcel.hand_over(exc, by="anna", to_team="hub_ops", recorded_at=NOW)  # to a team: no assignee
    record = parcel.exceptions[exc]
    assert (record.assignee, record.team) == (None, "hub_ops")
    parcel.acknowledge_exception(exc, by="dora", recorded_at=NOW + timedelta(hours=1))
    record = parcel.exceptions[exc]  # dora of hub_ops takes it; the first response stands
    assert (record.assignee, record.acknowledged_by, record.acknowledged_at) == (
        "dora", "anna", NOW)
    parcel.hand_over(exc, by="dora", to_agent="chen", recorded_at=NOW)
    with pytest.raises(DomainError, match="handed to chen"):
        parcel.acknowledge_exception(exc, by="bob", recorded_at=NOW)
    with pytest.raises(NotPermitted, match="only a supervisor or its assignee"):
        parcel.escalate(exc, to="cs_supervisors", reason="mine now", by="bob", recorded_at=NOW,
                        assignee="bob")
    parcel.escalate(exc, to="sup-li", reason="chen is on leave", by="sup-li", recorded_at=NOW,
                    assignee="sup-li", by_supervisor=True)
    with pytest.raises(DomainError, match="system's own outcome"):
        parcel.resolve_exception(exc, Outcome.CLEARED, by="sup-li", recorded_at=NOW)
    parcel.resolve_exception(exc, Outcome.REDELIVERED, by="sup-li", recorded_at=NOW)
    with pytest.raises(DomainError, match="already resolved"):
        parcel.hand_over(exc, by="sup-li", to_agent="x", recorded_at=NOW)
    with pytest.raises(DomainError, match="needs a reason"):
        parcel.reopen_exception(exc, reason="", by="x", recorded_at=NOW)


def test_clocks_by_tier_and_severity_and_each_breach_recorded_once():
    vip, exc = parcel_with(customer_tier=CustomerTier.VIP)
    record = vip.exceptions[exc]
    clocks = sla.clocks(record, CustomerTier.VIP, POLICY)
    assert clocks.first_response_due == NOW + timedelta(minutes=30)
    assert clocks.resolution_due == NOW + timedelta(hours=12)
    internal, exc2 = parcel_with(ExceptionCode.SCAN_ANOMALY)  # internal, low: 72 h, no answer due
    internal_clocks = sla.clocks(internal.exceptions[exc2], CustomerTier.STANDARD, POLICY)
    assert (internal_clocks.first_response_due, internal_clocks.resolution_due) == (
        None, NOW + timedelta(hours=72))
    assert vip.check_sla(POLICY, now=NOW + timedelta(minutes=30)) == []
    later = NOW + timedelta(minutes=31)
    assert vip.check_sla(POLICY, now=later) == [(exc, SlaClock.FIRST_RESPONSE)]
    assert vip.check_sla(POLICY, now=later + timedelta(hours=1)) == []
    record = vip.exceptions[exc]
    assert (record.escalation_level, record.escalated_to) == (1, "cs_supervisors")
    assert vip.check_sla(POLICY, now=NOW + timedelta(hours=13)) == [(exc, SlaClock.RESOLUTION)]
    assert vip.exceptions[exc].escalation_level == 2


def test_a_complaint_raises_its_own_exception_on_the_seven_day_clock():
    parcel, delayed = parcel_with(ExceptionCode.DELAYED)
    cid = parcel.file_complaint(ComplaintCategory.DELAY, Channel.PHONE, words_sealed="v1:x",
                                by="cs-2", recorded_at=NOW)
    complaint = parcel.complaints[cid]
    own = parcel.exceptions[complaint.exception_id]
    assert own.code == ExceptionCode.COMPLAINT and complaint.links == (delayed,)
    assert sla.clocks(own, CustomerTier.STANDARD, POLICY).resolution_due == NOW + timedelta(days=7)
    other = parcel.file_complaint(ComplaintCategory.COURIER_CONDUCT, Channel.APP,
                                  words_sealed=None, by="cs-2", recorded_at=NOW)
    assert other != cid and parcel.complaints[other].links == ()
    assert len([r for r in parcel.open_exceptions if r.code == ExceptionCode.COMPLAINT]) == 2
    parcel.close_complaint(cid, Outcome.NO_FAULT, by="cs-2", recorded_at=NOW,
                           reason="customer unreachable after three calls")
    assert not parcel.exceptions[complaint.exception_id].is_open
    with pytest.raises(DomainError, match="already closed"):
        parcel.close_complaint(cid, Outcome.NO_FAULT, by="cs-2", recorded_at=NOW, reason="x")


def quiet(hours_ago: float, **manifest) -> Parcel:
    parcel = Parcel.register(sealed_manifest(**manifest), recorded_at=T0)
    parcel.record_scans(as_scans(*journey()[:5]), recorded_at=T0 + timedelta(hours=4))
    return parcel


def test_detection_decides_on_the_parcel_with_the_policy_numbers():
    far = T0 + timedelta(days=30)
    parcel = quiet(0, promised_by=far)
    last = T0 + timedelta(hours=3)
    codes = lambda at, policy=POLICY: [str(f.code) for f in findings(parcel, policy, NETWORK, at)]  # noqa: E731
    assert codes(last + timedelta(hours=47)) == []
    assert codes(last + timedelta(hours=48)) == ["stalled"]
    assert codes(last + timedelta(days=7)) == ["stalled", "lost"]
    shorter = Policy(stall_after={**POLICY.stall_after, "standard": timedelta(hours=12)})
    assert codes(last + timedelta(hours=12), shorter) == ["stalled"]
    # Out for delivery has its own, shorter rhythm whatever the service level.
    parcel.record_scans(as_scans(scan("arrival", "SHA-HUB-02", 20), scan(
        "out_for_delivery", "SHA-STA-13", 24)), recorded_at=T0 + timedelta(hours=25))
    assert parcel.state.status == Status.OUT_FOR_DELIVERY
    assert codes(T0 + timedelta(hours=48)) == ["stalled"]
    economy = Policy().stall_limit("economy", Status.IN_TRANSIT)
    assert economy == timedelta(hours=72)


def test_a_stall_ends_with_the_scan_that_interrupted_its_quiet_spell_and_returns_if_voided():
    far = T0 + timedelta(days=30)
    parcel = quiet(0, promised_by=far)
    flagged = T0 + timedelta(hours=52)
    [stall] = findings(parcel, POLICY, NETWORK, flagged)
    exc = parcel.record_finding(stall, by="detector", recorded_at=flagged)
    # Scanned before the detector ran, uploaded after it: the quiet spell had ended.
    parcel.record_scans(as_scans(scan("arrival", "SHA-HUB-02", 51.5)),
                        recorded_at=flagged + timedelta(minutes=5))
    record = parcel.exceptions[exc]
    assert (record.status, record.outcome, record.note) == (
        ExceptionStatus.RESOLVED, Outcome.MOVING_AGAIN, "scanned again at SHA-HUB-02")
    arrival = max(v for v, e in parcel.entries.items() if e.scan is not None)
    parcel.void(arrival, reason="scanned the wrong label", by="auditor",
                recorded_at=flagged + timedelta(hours=1))
    assert parcel.exceptions[exc].is_open  # no scan ended the spell after all
