"""What a parcel's timeline says: status, flags, location, problems — a pure fold.

Scans arrive late, out of order and twice; the order they were *recorded* in says
nothing about the parcel. So the parcel's state is never updated event by event in
arrival order: it is recomputed from the whole timeline sorted by `occurred_at`, the
way a person reading the timeline top to bottom would tell the story. Any arrival
order of the same scans therefore yields the same state.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from parcelflow.domain.ids import MANIFEST_MISSING
from parcelflow.domain.times import since_epoch
from parcelflow.domain.vocabulary import (
    EXCEPTION_RULES,
    FACT_RULES,
    HANDED_OVER_STATUSES,
    SCAN_RULES,
    TERMINAL_STATUSES,
    VISIT_SCANS,
    ExceptionCode,
    FacilityKind,
    Fact,
    Flag,
    ScanType,
    Status,
)

# A second failed attempt for "recipient absent" needs someone to act; the first is routine.
ABSENT_ATTEMPTS_BEFORE_EXCEPTION = 2


@dataclass(frozen=True)
class Scan:
    """A physical scan as the domain knows it (validated wire data, plus registry facts)."""

    scan_id: str
    scan_type: ScanType
    occurred_at: datetime
    facility: str
    device_id: str
    operator_id: str | None = None
    next_facility: str | None = None
    exception_code: ExceptionCode | None = None
    attempt_reason: ExceptionCode | None = None
    signed_by: str | None = None
    note: str | None = None
    # Looked up in the network registry when the scan was recorded; None: unknown facility.
    facility_kind: FacilityKind | None = None

    AMENDABLE = frozenset(
        {"scan_type", "occurred_at", "facility", "next_facility", "exception_code",
         "attempt_reason", "signed_by", "note", "facility_kind"}
    )


@dataclass(frozen=True)
class Entry:
    """One line of a parcel's timeline: a scan or another fact about the parcel."""

    version: int  # of the event that recorded it
    kind: str  # a scan type, or a Fact (registered, cancelled, exception_raised, ...)
    occurred_at: datetime
    recorded_at: datetime
    scan: Scan | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    late: bool = False  # occurred before something already recorded: uploaded late
    voided: bool = False
    amended: bool = False
    sort_key: tuple[timedelta, int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Ties are broken by lifecycle rank and then by scan id, never by arrival order,
        # so that equal timestamps fold the same way whatever order they came in.
        # The instant as time since the epoch (`since_epoch`): the same order as
        # `occurred_at`'s, compared without asking two offsets.
        rank = SCAN_RULES[self.scan.scan_type].rank if self.scan else FACT_RULES[self.kind].rank
        tiebreak = self.scan.scan_id if self.scan else f"~{self.version:012d}"
        object.__setattr__(self, "sort_key", (since_epoch(self.occurred_at), rank, tiebreak))


@dataclass(frozen=True)
class Issue:
    """A problem the timeline shows, which should be an open exception."""

    code: ExceptionCode
    occurrence: str  # what shows it: a scan id, or MANIFEST_MISSING (domain/ids.py)
    occurred_at: datetime
    detail: str


@dataclass(frozen=True)
class MissedScan:
    """A scan the process expects but the timeline lacks (for scan compliance)."""

    facility: str | None
    scan_type: ScanType
    around: datetime


@dataclass(frozen=True)
class Visit:
    """One stay at a facility: the scans in a row there, in occurred order."""

    scans: tuple[Scan, ...]
    left: bool  # scanned somewhere else afterwards

    @property
    def facility(self) -> str:
        return self.scans[0].facility

    @property
    def kind(self) -> FacilityKind | None:
        return self.scans[0].facility_kind

    def missing(self) -> list[ScanType]:
        """The scans a visit to a facility of its kind should carry and this one lacks
        (VISIT_SCANS); while the parcel is still there, only those that should have
        come before its latest scan."""
        expected = VISIT_SCANS.get(self.kind) if self.kind else None
        if expected is None:
            return []
        types = {s.scan_type for s in self.scans}
        wanted = list(expected.on_visit)
        if not self.left:
            last_rank = max(SCAN_RULES[t].rank for t in types)
            wanted = [t for t in wanted if SCAN_RULES[t].rank < last_rank]
        elif expected.on_leaving is not None:
            wanted.append(expected.on_leaving)
        return [t for t in wanted if t not in types]


@dataclass(frozen=True)
class Delivery:
    at: datetime
    facility: str
    signed_by: str | None


@dataclass(frozen=True)
class ParcelState:
    status: Status
    flags: frozenset[Flag]
    location: str | None  # facility of the latest scan
    last_event: Entry | None
    delivered: Delivery | None
    expected_next_facility: str | None
    failed_attempts: int
    last_scan_at: datetime | None
    issues: dict[tuple[str, str], Issue]
    settled: frozenset[tuple[str, str]]  # issues the timeline itself settled since
    anomalies: frozenset[int]  # versions of scans that raised scan_anomaly
    timeline: tuple[Entry, ...]  # everything, sorted by occurred_at, voided included

    # `physical`, `unknown_facility_scans` and `latest_recorded_at` of a state made by
    # `Timeline.state` come made (the fold keeps the first two as it reads, the timeline
    # the third): each walked every entry, and a follower makes a state at every scan,
    # where walking a parcel's entries costs more than its bytecode (likely a cache miss
    # an entry: a parcel's memory is cold by its next scan; bench/profiles, phase 13).
    # tests/unit/test_timeline_fold_order.py checks them against these definitions.

    @cached_property
    def physical(self) -> list[Entry]:
        """The scans that stand, in occurred order."""
        return [e for e in self.timeline if e.scan and not e.voided]

    @cached_property
    def latest_recorded_at(self) -> datetime | None:
        """When the latest of its entries was recorded (voided ones too)."""
        return max((e.recorded_at for e in self.timeline), default=None)

    @cached_property
    def visits(self) -> tuple[Visit, ...]:
        """The standing scans grouped into stays, one facility after another.
        Computed when asked (compliance figures), not on every ingest."""
        stays: list[list[Scan]] = []
        for entry in self.physical:
            assert entry.scan is not None
            if stays and stays[-1][0].facility == entry.scan.facility:
                stays[-1].append(entry.scan)
            else:
                stays.append([entry.scan])
        return tuple(Visit(tuple(stay), left=i < len(stays) - 1) for i, stay in enumerate(stays))

    @cached_property
    def unknown_facility_scans(self) -> tuple[Scan, ...]:
        """Standing scans at a facility the network registry did not know when they were
        recorded: kept (nothing is lost), and a data-quality problem to put right."""
        return tuple(e.scan for e in self.physical
                     if e.scan is not None and e.scan.facility_kind is None)

    @cached_property
    def missed_scans(self) -> tuple[MissedScan, ...]:
        """Gaps that happen every day: tolerated, and counted for scan compliance."""
        physical = self.physical
        missed: list[MissedScan] = []
        if physical and not any(e.scan and e.scan.scan_type == ScanType.PICKUP
                                for e in physical):
            missed.append(MissedScan(None, ScanType.PICKUP, physical[0].occurred_at))
        for visit in self.visits:
            missed += [MissedScan(visit.facility, scan_type, visit.scans[0].occurred_at)
                       for scan_type in visit.missing()]
        return tuple(missed)


class Timeline:
    """A parcel's entries, kept in occurred order and folded as they come.

    Scans mostly arrive in order, so the fold usually only has to read the new entries.
    An entry that lands before the part already read (a late upload, a void, an
    amendment) makes the next read start again from the top: same result, more work.
    """

    def __init__(self) -> None:
        self._by_version: dict[int, Entry] = {}
        self._signed: dict[int, Entry] = {}  # entries whose scan names who signed
        self._latest: datetime | None = None  # the latest recorded_at of any entry
        self._sorted: list[Entry] = []
        self._keys: list[tuple[timedelta, int, str]] = []
        self._fold = _Fold()
        self._folded = 0  # entries of _sorted already read into _fold

    def add(self, entry: Entry) -> None:
        self._by_version[entry.version] = entry
        if entry.scan is not None and entry.scan.signed_by:
            self._signed[entry.version] = entry
        if self._latest is None or entry.recorded_at > self._latest:
            self._latest = entry.recorded_at
        keys, key = self._keys, entry.sort_key
        if not keys or key >= keys[-1]:  # in order, as most scans come: one comparison
            keys.append(key)
            self._sorted.append(entry)
            return
        at = bisect.bisect(keys, key)
        keys.insert(at, key)
        self._sorted.insert(at, entry)
        if at < self._folded:
            self._fold_in_before(at)

    def _fold_in_before(self, at: int) -> None:
        """The entry just put at `at` lands before entries already read. When those are
        all paperwork (`_Fold.inert`: a manifest registered after the scans it precedes
        in time, as when it is attached late or its scans are uploaded late), the fold
        reads on: the entry, then the paperwork again. That is the fold read from the
        top, because paperwork sets nothing but a `last_event` still None, and the entry
        either sets `last_event` itself (then the paperwork leaves it) or leaves it as
        the paperwork had it. Anything else: read again from the top."""
        if not all(_Fold.inert(e) for e in self._sorted[at + 1:self._folded + 1]):
            self._folded = -1
            return
        for e in self._sorted[at:self._folded + 1]:
            if not e.voided:
                self._fold.step(e)
        self._folded += 1

    def replace(self, entry: Entry) -> None:
        """Put a corrected entry (voided or amended) in place of the one it corrects."""
        old = self._by_version[entry.version]
        at = self._sorted.index(old)
        del self._sorted[at], self._keys[at]
        self._signed.pop(entry.version, None)
        self._folded = -1
        self.add(entry)
        self._latest = max(e.recorded_at for e in self._sorted)  # the old one's is gone

    def __getitem__(self, version: int) -> Entry:
        return self._by_version[version]

    def get(self, version: int) -> Entry | None:
        return self._by_version.get(version)

    def items(self) -> Iterable[tuple[int, Entry]]:
        return self._by_version.items()

    def values(self) -> Iterable[Entry]:
        return self._by_version.values()

    def signed(self) -> Iterable[Entry]:
        """The entries whose scan names who signed (a delivery's), voided ones too."""
        return self._signed.values()

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_version)

    def __len__(self) -> int:
        return len(self._by_version)

    def _folded_to_end(self) -> _Fold:
        if self._folded < 0:
            self._fold, self._folded = _Fold(), 0
        for entry in self._sorted[self._folded:]:
            if not entry.voided:
                self._fold.step(entry)
        self._folded = len(self._sorted)
        return self._fold

    def state(self, *, manifested: bool, open_flags: frozenset[Flag]) -> ParcelState:
        fold = self._folded_to_end()
        return _finish(fold.copy(), tuple(self._sorted), manifested, open_flags, self._latest)

    def shows_no_issue(self) -> bool:
        """Whether `state(manifested=True, ...).issues` would be empty, without making
        the state (the fold read to the end, as `state` reads it): a problem shown and
        not settled, or a scan that reported the parcel lost, is an issue; `_finish`
        only adds those two to the fold's (and the unmanifested one) or takes away."""
        fold = self._folded_to_end()
        return not fold.issues and not fold.lost_by_scan


def _finish(fold: _Fold, timeline: tuple[Entry, ...], manifested: bool,
            open_flags: frozenset[Flag], latest_recorded_at: datetime | None) -> ParcelState:
    """What holds at the end of the story (applied to a copy: the fold reads on later)."""
    if not manifested:
        first = next((e for e in timeline if e.scan and not e.voided), None)
        at = first.occurred_at if first else (timeline[0].occurred_at if timeline else None)
        if at is not None:
            fold.issues[(ExceptionCode.UNMANIFESTED, MANIFEST_MISSING)] = Issue(
                ExceptionCode.UNMANIFESTED, MANIFEST_MISSING, at,
                "scanned before its manifest arrived",
            )
    fold.close_lost_found()
    fold.close_delivered()
    flags = fold.flags | open_flags
    if fold.status in HANDED_OVER_STATUSES:
        flags.discard(Flag.ON_HOLD)
    # Every field set, as ParcelState(...) would, without the frozen dataclass's
    # object.__setattr__ per field: this runs once per parcel per ingest batch
    # (tests/unit/test_timeline_state.py checks it against the constructor).
    state = object.__new__(ParcelState)
    state.__dict__.update(
        status=fold.status,
        flags=frozenset(flags),
        location=fold.location,
        last_event=fold.last_event,
        delivered=fold.delivered,
        expected_next_facility=fold.expected_next,
        failed_attempts=fold.attempts,
        last_scan_at=fold.last_scan_at,
        issues=fold.issues,
        settled=frozenset(fold.settled),
        anomalies=frozenset(fold.anomalies),
        timeline=timeline,
        # ParcelState's cached properties, as they would find them (see there); copied:
        # the fold reads on.
        physical=fold.physical[:],
        unknown_facility_scans=tuple(fold.unknown_facility),
        latest_recorded_at=latest_recorded_at,
    )
    return state


_CLOSED_BY_DELIVERY = frozenset(c for c, rule in EXCEPTION_RULES.items() if rule.closed_by_delivery)
_MISDIRECTED = frozenset({ExceptionCode.MISDIRECTED})
# After these, a scan is an impossible sequence (a cancelled parcel still travels back).
_NO_SCANS_AFTER = HANDED_OVER_STATUSES | {Status.DISPOSED}


# The facts `_Fold.step` reads beyond a registration; every other fact is paperwork.
_STEPPED_FACTS = frozenset({Fact.CANCELLED, Fact.DISPOSED, Fact.EXCEPTION_RAISED})


class _Fold:
    """The running story while reading a timeline top to bottom."""

    def __init__(self) -> None:
        self.status = Status.REGISTERED
        self.flags: set[Flag] = set()
        self.location: str | None = None
        self.last_event: Entry | None = None
        self.delivered: Delivery | None = None
        self.expected_next: str | None = None
        self.attempts = 0
        self.seen_scan = False
        self.last_scan_at: datetime | None = None
        self.issues: dict[tuple[str, str], Issue] = {}
        self.settled: set[tuple[str, str]] = set()  # shown, then settled by a later scan
        self.anomalies: set[int] = set()
        self.lost_by_scan: list[Issue] = []  # lost reported by a scan, until a later scan
        self.physical: list[Entry] = []  # the standing scans read, in order
        self.unknown_facility: list[Scan] = []  # those at a facility the registry did not know

    def copy(self) -> _Fold:
        """A twin for `_finish`, which changes only the issues and what is settled
        (flags, anomalies and lost_by_scan it reads, and copies into the state)."""
        twin = _Fold.__new__(_Fold)
        twin.__dict__.update(self.__dict__)
        twin.issues, twin.settled = dict(self.issues), set(self.settled)
        return twin

    @staticmethod
    def inert(entry: Entry) -> bool:
        """Whether reading `entry` can change nothing but a `last_event` still None (a
        registration; other paperwork changes nothing): what `step` does, so the two
        are kept side by side (tests/unit/test_timeline_fold_order.py)."""
        return entry.voided or (entry.scan is None and entry.kind not in _STEPPED_FACTS)

    def step(self, entry: Entry) -> None:
        if entry.scan is not None:
            self.physical.append(entry)
            if entry.scan.facility_kind is None:
                self.unknown_facility.append(entry.scan)
            self._scan(entry, entry.scan)
        elif entry.kind == Fact.CANCELLED and self.status not in TERMINAL_STATUSES:
            self.status = Status.CANCELLED
            self.last_event = entry
        elif entry.kind == Fact.DISPOSED:
            self.status = Status.DISPOSED
            self.last_event = entry
        elif entry.kind == Fact.EXCEPTION_RAISED and entry.detail.get("code") == ExceptionCode.LOST:
            if self.status not in TERMINAL_STATUSES:
                self.status = Status.LOST
                self.last_event = entry
        elif entry.kind == Fact.REGISTERED and self.last_event is None:
            self.last_event = entry

    def _anomaly(self, entry: Entry, scan: Scan, why: str) -> None:
        self.anomalies.add(entry.version)
        self.issues[(ExceptionCode.SCAN_ANOMALY, scan.scan_id)] = Issue(
            ExceptionCode.SCAN_ANOMALY, scan.scan_id, scan.occurred_at, why
        )

    def _scan(self, entry: Entry, scan: Scan) -> None:
        rule = SCAN_RULES[scan.scan_type]
        self.last_scan_at = scan.occurred_at
        if self.lost_by_scan:
            self.lost_by_scan.clear()  # scanned again: no longer lost
        if self.status in _NO_SCANS_AFTER:
            self._anomaly(entry, scan, f"{scan.scan_type} scan after the parcel was {self.status}")
            return
        if self.status == Status.CANCELLED and rule.is_delivery:
            self._anomaly(entry, scan, f"{scan.scan_type} scan after the parcel was cancelled")
            return
        if rule.is_delivery and not self.seen_scan:
            self._anomaly(entry, scan, f"{scan.scan_type} before any pickup or hub scan")
        self.seen_scan = True
        self.location = scan.facility
        self.last_event = entry

        match scan.scan_type:
            case ScanType.ARRIVAL:
                if self.expected_next and scan.facility != self.expected_next:
                    self.flags.add(Flag.MISDIRECTED)
                    self.issues[(ExceptionCode.MISDIRECTED, scan.scan_id)] = Issue(
                        ExceptionCode.MISDIRECTED, scan.scan_id, scan.occurred_at,
                        f"arrived at {scan.facility}, expected {self.expected_next}",
                    )
                else:  # back on its route
                    self.flags.discard(Flag.MISDIRECTED)
                    self._settle(_MISDIRECTED)
                self.expected_next = None
            case ScanType.SORT | ScanType.DEPARTURE:
                if scan.next_facility:
                    self.expected_next = scan.next_facility
                if scan.scan_type == ScanType.DEPARTURE:
                    self.flags.discard(Flag.ON_HOLD)
            case ScanType.CUSTOMS_HOLD:
                self.flags.add(Flag.ON_HOLD)
            case ScanType.CUSTOMS_RELEASE:
                self.flags.discard(Flag.ON_HOLD)
            case ScanType.OUT_FOR_DELIVERY:
                self.flags -= {Flag.MISDIRECTED, Flag.ON_HOLD}
            case ScanType.DELIVERY_ATTEMPT:
                self.attempts += 1
                reason = scan.attempt_reason
                if reason is not None and (
                    reason != ExceptionCode.RECIPIENT_ABSENT
                    or self.attempts >= ABSENT_ATTEMPTS_BEFORE_EXCEPTION
                ):
                    self.issues[(reason, scan.scan_id)] = Issue(
                        reason, scan.scan_id, scan.occurred_at,
                        f"delivery attempt {self.attempts} failed: {reason}",
                    )
            case ScanType.DELIVERED | ScanType.PICKED_UP_BY_RECIPIENT:
                self.delivered = Delivery(scan.occurred_at, scan.facility, scan.signed_by)
                self.flags -= {Flag.MISDIRECTED, Flag.ON_HOLD}
            case ScanType.EXCEPTION:
                self._exception_scan(scan)

        if scan.scan_type == ScanType.DELIVERED and self.status == Status.RETURNING:
            self.status = Status.RETURNED
        elif self.status == Status.CANCELLED and scan.scan_type != ScanType.RETURN_TO_SENDER:
            pass  # a cancelled parcel still moves (back to its sender) but stays cancelled
        elif rule.status is not None:
            self.status = rule.status

    def _exception_scan(self, scan: Scan) -> None:
        code = scan.exception_code
        assert code is not None  # the wire schema requires it on exception scans
        issue = Issue(code, scan.scan_id, scan.occurred_at, f"reported at {scan.facility}")
        rule = EXCEPTION_RULES[code]
        if code == ExceptionCode.LOST:
            self.status = Status.LOST
            self.lost_by_scan.append(issue)
            return
        self.issues[(code, scan.scan_id)] = issue
        if rule.flag is not None:
            self.flags.add(rule.flag)

    def _settle(self, codes: frozenset[ExceptionCode]) -> None:
        if not self.issues:  # (most arrivals and deliveries: nothing shown to settle)
            return
        for key in [k for k in self.issues if k[0] in codes]:
            del self.issues[key]
            self.settled.add(key)

    def close_delivered(self) -> None:
        # Delivery settles what only stood between the parcel and its receiver.
        if self.status in HANDED_OVER_STATUSES:
            self._settle(_CLOSED_BY_DELIVERY)

    def close_lost_found(self) -> None:
        # A "lost" reported by a scan holds only while no later scan has found the parcel.
        for issue in self.lost_by_scan:
            self.issues[(issue.code, issue.occurrence)] = issue
