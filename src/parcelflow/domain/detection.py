"""What the detectors decide: is this parcel stalled, delayed, lost, or left at a pickup
point — judged on the parcel itself, at a given time, by the policy's numbers.

The application narrows a million parcels down to candidates with SQL over the read
models; this module makes the decision on each candidate's own events, so a read model
that lags behind can cost a wasted look but never a wrong exception.

Each finding names its occurrence: the quiet spell since the last scan, or
the promise that was broken. The parcel raises one exception per occurrence, so a
detector run every minute flags a parcel once, and flags it again only when it goes
quiet again after a new scan or breaks a new promise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from parcelflow.domain import ids
from parcelflow.domain.eta import estimate_eta
from parcelflow.domain.network import Network
from parcelflow.domain.parcel_core import ParcelCore
from parcelflow.domain.policy import Policy
from parcelflow.domain.records import Finding
from parcelflow.domain.times import instant
from parcelflow.domain.vocabulary import ExceptionCode, Status


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.0f} h"


def findings(parcel: ParcelCore, policy: Policy, network: Network, now: datetime) -> list[Finding]:
    state = parcel.state
    manifest = parcel.manifest
    level = manifest.service_level if manifest else None
    found: list[Finding] = []
    quiet_since = state.last_scan_at
    if quiet_since is not None:
        quiet = now - quiet_since
        where = f" at {state.location}" if state.location else ""
        if state.status in policy.stall_statuses:
            limit = policy.stall_limit(level, state.status)
            if quiet >= limit:
                found.append(Finding(
                    ExceptionCode.STALLED, ids.quiet_since(quiet_since),
                    f"no scan for {_hours(quiet)} while {state.status}{where} "
                    f"(limit {_hours(limit)} for {level or 'unmanifested'} parcels)"))
        if state.status in policy.lost_statuses and quiet >= policy.complete_delay:
            found.append(Finding(
                ExceptionCode.LOST, ids.quiet_since(quiet_since),
                f"no scan for {quiet.days} days since {state.status}{where}; declared lost "
                f"after {policy.complete_delay.days} days"))
        if state.status == Status.AWAITING_PICKUP and quiet >= policy.pickup_hold:
            found.append(Finding(
                ExceptionCode.PICKUP_MISSED, ids.quiet_since(quiet_since),
                f"waiting at {state.location} for {quiet.days} days, "
                f"beyond the {policy.pickup_hold.days}-day hold"))
    promised = parcel.promised_by
    if promised is not None and state.status in policy.delay_statuses:
        eta = estimate_eta(state, manifest, network, revised=parcel.eta)
        if now > promised:
            found.append(Finding(ExceptionCode.DELAYED, ids.broken_promise(promised),
                                 f"not delivered by the promised {instant(promised)}"))
        elif eta is not None and eta > promised:
            found.append(Finding(ExceptionCode.DELAYED, ids.broken_promise(promised),
                                 f"the ETA {instant(eta)} is past the promised {instant(promised)}"))
    return found


def revised_eta(parcel: ParcelCore, policy: Policy, network: Network, now: datetime) -> datetime | None:
    """A new ETA for a late parcel whose current one is missing or already past; None
    when it needs none. What is left of the route takes its usual time from now (the
    parcel evidently waited), or the policy's fallback when the route gives no figure."""
    state = parcel.state
    promised = parcel.promised_by
    if promised is None or state.status not in policy.delay_statuses or now <= promised:
        return None
    current = estimate_eta(state, parcel.manifest, network, revised=parcel.eta)
    if current is not None and current > now:
        return None
    estimate = estimate_eta(state, parcel.manifest, network)
    if estimate is not None and state.last_scan_at is not None and estimate > state.last_scan_at:
        return now + (estimate - state.last_scan_at)
    return now + policy.delayed_eta_fallback
