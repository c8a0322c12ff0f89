"""A parcel as it stood at a moment, by the time things happened (`occurred_at`).

Two clocks answer two questions. "What did we know at R?" replays the events recorded by
R. "Where was the parcel at T?" needs more: a hub that uploads its scans hours late
still says where the parcel was at T, so the answer reads the timeline up to T by
`occurred_at`, whenever each line was recorded. The two combine: the parcel at T as
known at R is the second question asked of the events recorded by R.

What was corrected stays corrected: a scan voided later did not happen at T either (the
replayed parcel already carries the correction). Exceptions derived from the timeline
are open at T when the timeline up to T shows them; exceptions raised by people or
detectors when they were raised by T and not resolved by then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parcelflow.domain.timeline import ParcelState, Timeline
from parcelflow.domain.vocabulary import EXCEPTION_RULES, ExceptionCode, ExceptionStatus


@dataclass(frozen=True)
class OpenAt:
    exception_id: str
    code: ExceptionCode
    status: ExceptionStatus


@dataclass(frozen=True)
class Standing:
    moment: datetime
    state: ParcelState
    open_exceptions: list[OpenAt]


def standing_at(parcel: Any, events: Iterable[Any], moment: datetime) -> Standing | None:
    """The parcel (replayed from `events`) as it stood at `moment`; None when nothing
    about it had happened by then."""
    entries = [e for e in parcel.entries.values() if e.occurred_at <= moment]
    if not entries:
        return None
    statuses = _exception_statuses(events, moment)
    manual = [r for r in parcel.exceptions.values()
              if not r.auto and statuses.get(r.exception_id, ExceptionStatus.RESOLVED)
              != ExceptionStatus.RESOLVED]
    cut = Timeline()
    for entry in entries:
        cut.add(entry)
    flags = frozenset(f for r in manual if (f := EXCEPTION_RULES[r.code].flag) is not None)
    manifested = any(e.kind in ("registered", "manifest_attached") for e in entries)
    state = cut.state(manifested=manifested, open_flags=flags)
    shown = set(state.issues)
    open_exceptions = [
        OpenAt(r.exception_id, r.code,
               ExceptionStatus.ACKNOWLEDGED if statuses.get(r.exception_id)
               == ExceptionStatus.ACKNOWLEDGED else ExceptionStatus.OPEN)
        for r in parcel.exceptions.values()
        if (r.auto and (r.code, r.cause) in shown) or r in manual
    ]
    return Standing(moment, state, open_exceptions)


def _exception_statuses(events: Iterable[Any], moment: datetime) -> dict[str, ExceptionStatus]:
    """Each exception's status at `moment`, from its steps that had happened by then."""
    steps = {"ExceptionRaised": ExceptionStatus.OPEN,
             "ExceptionAcknowledged": ExceptionStatus.ACKNOWLEDGED,
             "ExceptionResolved": ExceptionStatus.RESOLVED}
    statuses: dict[str, ExceptionStatus] = {}
    for event in events:
        kind = type(event).__name__
        if event.occurred_at > moment:
            continue
        if kind in steps:
            statuses[event.exception_id] = steps[kind]
        elif kind == "ExceptionReopened":
            statuses[event.exception_id] = ExceptionStatus.OPEN
    return statuses
