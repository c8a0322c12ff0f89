"""What every part of the Parcel aggregate shares: the base of its events, what the
parcel knows, and how a command records an event.

The aggregate (`domain/parcel.py`) is composed of command groups, one module each:
scanning, the exception workflow, complaints, claims, corrections. Each group defines
its own events; this module is the floor they all stand on, and imports none of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from parcelflow.domain import chain
from parcelflow.domain.errors import DomainError, NotFound
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.records import ClaimRecord, ComplaintRecord, ExceptionRecord
from parcelflow.domain.timeline import Entry, ParcelState, Scan, Timeline
from parcelflow.domain.times import EPOCH, EPOCHS, since_epoch
from parcelflow.domain.vocabulary import EXCEPTION_RULES, FACT_RULES, SCAN_RULES, CustomerTier

SYSTEM = "system"  # the actor for what the domain does on its own
_NO_FLAGS: frozenset[Any] = frozenset()
_SCAN_RANKS = {scan_type: rule.rank for scan_type, rule in SCAN_RULES.items()}

# Every parcel event is stored under the topic it had when all of them were nested in
# `Parcel` in domain/parcel.py. A stored event's topic names its class for good (the
# library resolves it to load the event, and it is part of the event's hash), so moving
# an event class to another module must never change it.
STORED_TOPIC = "parcelflow.domain.parcel:Parcel.{}"


class ParcelEvent(Aggregate.Event):
    """A fact about a parcel. Every one carries the time it happened (`occurred_at`,
    device clock), the time it was recorded (`recorded_at`, server clock), who reported
    it, and the SHA-256 of the event before it and of itself."""

    occurred_at: datetime
    recorded_at: datetime
    device_id: str | None
    operator_id: str | None
    previous_hash: str
    event_hash: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Read by eventsourcing's get_topic; set on each class, so never inherited.
        cls.TOPIC = STORED_TOPIC.format(cls.__name__)

    def __post_init__(self) -> None:
        super().__post_init__()
        # Computed once, when the event is first made. Events read back from the
        # store keep the hash they were stored with, which is what `verify` checks.
        if not self.event_hash:
            object.__setattr__(
                self, "event_hash", chain.digest(get_topic(type(self)), vars(self))
            )

    def apply(self, aggregate: ParcelCore) -> None:  # type: ignore[override]
        self.on(aggregate)
        aggregate.head_hash = self.event_hash
        aggregate._derived = None

    def on(self, parcel: ParcelCore) -> None:
        """How this event changes the parcel."""


class ParcelCore:
    """The parcel's state and lookups, and `_emit`, which every command records with.

    A part of `Parcel` (with the command groups), not an aggregate of its own.
    """

    # The eventsourcing Aggregate's (Parcel is one); declared for the parts' sake.
    id: UUID
    version: int
    trigger_event: Callable[..., None]

    def _start(self, tracking_no: str) -> None:
        self.tracking_no = tracking_no
        self.manifest: Manifest | None = None
        self.receiver_sealed: str | None = None
        self.promised_by: datetime | None = None
        self.eta: datetime | None = None
        self.entries = Timeline()
        self.scan_versions: dict[str, int] = {}
        self.exceptions: dict[str, ExceptionRecord] = {}
        self.complaints: dict[str, ComplaintRecord] = {}
        self.claims: dict[str, ClaimRecord] = {}
        self.follow_ups: dict[str, Any] = {}  # domain/followups.py: FollowUpRecord by id
        self.ratings: dict[str, Any] = {}  # domain/satisfaction.py: Rating by occasion
        self.latest_scan_at: datetime | None = None
        self.head_hash = chain.GENESIS
        self.erased = False
        self._derived: ParcelState | None = None

    def _set_manifest(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.receiver_sealed = manifest.receiver_sealed
        self.promised_by = manifest.promised_by

    def _add_entry(self, event: ParcelEvent, kind: str, scan: Scan | None = None,
                   late: bool = False, **detail: Any) -> None:
        # Entry(...) without the frozen dataclass's setattr per field, every field given
        # here and the sort key as `Entry.__post_init__` makes it: one entry per event,
        # replayed ones too (tests/unit/test_frozen.py compares it with the constructor's).
        version, occurred_at = event.originator_version, event.occurred_at
        # since_epoch(occurred_at), its usual case inline: the call costs a rebuild
        # 1.1% of its instructions (266,129 against 263,318 an event, bench/projections.py
        # --parts instructions); ingest does not resolve it.
        try:
            at = occurred_at - EPOCHS.get(occurred_at.tzinfo, EPOCH)
        except TypeError:
            at = since_epoch(occurred_at)
        if scan is not None:
            sort_key = (at, _SCAN_RANKS[scan.scan_type], scan.scan_id)
        else:
            sort_key = (at, FACT_RULES[kind].rank, f"~{version:012d}")
        entry = object.__new__(Entry)
        state = entry.__dict__  # key by key, in field order (see frozen.py: half the memory)
        state["version"] = version
        state["kind"] = kind
        state["occurred_at"] = occurred_at
        state["recorded_at"] = event.recorded_at
        state["scan"] = scan
        state["detail"] = detail
        state["late"] = late
        state["voided"] = False
        state["amended"] = False
        state["sort_key"] = sort_key
        self.entries.add(entry)

    def _update_exception(self, exc_id: str, **changes: Any) -> ExceptionRecord:
        record = replace(self.exceptions[exc_id], **changes)
        self.exceptions[exc_id] = record
        return record

    def _update_claim(self, claim_id: str, **changes: Any) -> ClaimRecord:
        record = replace(self.claims[claim_id], **changes)
        self.claims[claim_id] = record
        return record

    def reconcile(self, recorded_at: datetime) -> None:
        """Make the open exceptions agree with what the timeline shows; every command
        that changes the timeline calls it. The exception workflow's
        (`domain/exceptions.py`), which raises and closes them."""
        raise NotImplementedError

    def _emit(self, event_class: type[ParcelEvent], *, recorded_at: datetime,
              occurred_at: datetime | None = None, device_id: str | None = None,
              operator_id: str | None = None, **payload: Any) -> None:
        """Record one event: what the library's `trigger_event` does (the next
        version, `mutate`, the pending list), with the event made by `_new_event`."""
        self._record(event_class, {
            "originator_id": self.id,
            "originator_version": self.version + 1,
            "timestamp": recorded_at,
            "occurred_at": occurred_at or recorded_at,
            "recorded_at": recorded_at,
            "device_id": device_id,
            "operator_id": operator_id,
            "previous_hash": self.head_hash,
            "event_hash": "",
            **payload,
        })

    def _record(self, event_class: type[ParcelEvent], fields: dict[str, Any]) -> None:
        """`_emit` given every field of the event already, in its declared order (the
        scans' way: one dict per scan instead of a keyword dict and a merged one)."""
        event = _new_event(event_class, fields)
        event.mutate(self)  # type: ignore[arg-type]
        self.pending_events.append(event)  # type: ignore[attr-defined]

    # ---- what the parcel knows -------------------------------------------------------

    @property
    def customer_tier(self) -> CustomerTier:
        return self.manifest.customer_tier if self.manifest else CustomerTier.STANDARD

    @property
    def state(self) -> ParcelState:
        """Status, flags, location and problems, as the timeline tells them."""
        if self._derived is None:
            open_flags = frozenset(
                rule_flag
                for r in self.exceptions.values()
                if r.is_open and not r.auto
                and (rule_flag := EXCEPTION_RULES[r.code].flag) is not None
            ) if self.exceptions else _NO_FLAGS
            self._derived = self.entries.state(
                manifested=self.manifest is not None, open_flags=open_flags
            )
        return self._derived

    @property
    def open_exceptions(self) -> list[ExceptionRecord]:
        return [r for r in self.exceptions.values() if r.is_open]

    def has_scan(self, scan_id: str) -> bool:
        return scan_id in self.scan_versions

    def find_exception(self, ref: str) -> ExceptionRecord:
        """An exception by its id, a unique prefix of it, or its code (the open one)."""
        by_code = [r for r in self.open_exceptions if str(r.code) == ref]
        return _find(self.exceptions, ref, by_code, f"{self.tracking_no} exception")

    def find_complaint(self, ref: str) -> ComplaintRecord:
        """A complaint by its id or a unique prefix of it."""
        return _find(self.complaints, ref, [], f"{self.tracking_no} complaint")

    def find_claim(self, ref: str) -> ClaimRecord:
        """A claim by its id, a unique prefix of it, or its cause (the live one)."""
        by_cause = [c for c in self.claims.values() if str(c.cause) == ref and c.is_live]
        return _find(self.claims, ref, by_cause, f"{self.tracking_no} claim")

    def _exception(self, exc_id: str) -> ExceptionRecord:
        try:
            return self.exceptions[exc_id]
        except KeyError:
            raise NotFound(f"{self.tracking_no} has no exception {exc_id}") from None


_FIELD_ORDER: dict[type, list[str]] = {}


def _new_event(cls: type[ParcelEvent], fields: dict[str, Any]) -> ParcelEvent:
    """`cls(**fields)`, without the frozen dataclass's `object.__setattr__` per field
    (about 2 us of an event's 19 fields; measured with timeit). Only when `fields` names
    exactly the class's fields, in their declared order (the order of `vars(event)`,
    which is the order they are stored in); anything else goes through the constructor,
    which says what is wrong. tests/unit/test_parcel.py checks the events made here
    equal those the library's `trigger_event` makes, field for field and in order."""
    order = _FIELD_ORDER.get(cls)
    if order is None:
        order = _FIELD_ORDER[cls] = [f.name for f in dataclasses.fields(cls)]
    if list(fields) != order:
        return cls(**fields)
    event = object.__new__(cls)
    event.__dict__.update(fields)
    event.__post_init__()
    return event


_MIN_PREFIX = 4


def _find(records: dict[str, Any], ref: str, named: list[Any], what: str) -> Any:
    if ref in records:
        return records[ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise DomainError(f"{what} {ref!r} is ambiguous: give its id")
    matches = [r for key, r in records.items() if len(ref) >= _MIN_PREFIX and key.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DomainError(f"{what} {ref!r} is ambiguous: give more of its id")
    raise NotFound(f"no {what} {ref!r}")
