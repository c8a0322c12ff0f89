"""SLA clocks on an exception: when its first response and its resolution are due,
and which of those promises has been missed.

The clocks are policy applied to the exception's own facts (when it was raised or
reopened, its severity, whether a customer is waiting, the customer's tier, the team
that must act and its calendar, the stretches it waited on someone else), so the queue,
the breach check and the statistics can never disagree about a due time. Each clock
counts calendar or business time as policy says (`domain/business_hours.py`); while the
exception waits on the customer or a third party its clocks stand still and have no due
time; when the answer comes they run on from where they stood.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parcelflow.domain.business_hours import TimeBasis
from parcelflow.domain.policy import Policy
from parcelflow.domain.records import ExceptionRecord
from parcelflow.domain.vocabulary import CustomerTier, SlaClock


@dataclass(frozen=True)
class Clocks:
    # None: internal, nobody is waiting for an answer; or standing still while waiting.
    first_response_due: datetime | None
    resolution_due: datetime | None  # None: standing still while waiting
    basis: TimeBasis  # what the resolution clock counts
    calendar: str  # the calendar business time is read in


def clocks(record: ExceptionRecord, tier: CustomerTier, policy: Policy) -> Clocks:
    first, resolution = policy.windows(code=record.code, severity=record.severity,
                                       customer_facing=record.customer_facing, tier=tier)
    team, pauses = record.team, record.pauses()
    # A reopened exception gets a fresh resolution clock (the problem is back), while
    # the first response it already had still counts.
    started = record.reopened_at or record.raised_at
    return Clocks(
        policy.due(first, team=team, start=record.raised_at, pauses=pauses)
        if first is not None else None,
        policy.due(resolution, team=team, start=started, pauses=pauses),
        policy.basis[resolution.kind], policy.calendar_for(team).name)


def answered_at(record: ExceptionRecord) -> datetime | None:
    """The first response: an acknowledgement, or a resolution given straight away."""
    return record.acknowledged_at or record.resolved_at


def missed(record: ExceptionRecord, tier: CustomerTier, policy: Policy,
           now: datetime) -> list[tuple[SlaClock, datetime]]:
    """The clocks of an open exception that ran out by `now` and are not yet recorded
    as breached (each due time is breached once)."""
    if not record.is_open:
        return []
    due = clocks(record, tier, policy)
    out = []
    first = due.first_response_due
    if first is not None and answered_at(record) is None and now > first \
            and record.breached_at(SlaClock.FIRST_RESPONSE, first) is None:
        out.append((SlaClock.FIRST_RESPONSE, first))
    if due.resolution_due is not None and now > due.resolution_due and \
            record.breached_at(SlaClock.RESOLUTION, due.resolution_due) is None:
        out.append((SlaClock.RESOLUTION, due.resolution_due))
    return out
