"""What auditors use: a parcel's full history, and verification of its hash chain."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.service import ParcelService
from parcelflow.application.unit_of_work import replay
from parcelflow.domain import chain
from parcelflow.domain.chain import BrokenLink
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.privacy import mask_signature
from parcelflow.domain.standing import standing_at

# Fields every event has; the rest are its details.
_COMMON = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "occurred_at",
     "recorded_at", "device_id", "operator_id", "previous_hash", "event_hash"}
)


@lru_cache(maxsize=None)
def _snake(class_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def event_name(event: Any) -> str:
    """An event's kind as histories, CloudEvents and notifications name it:
    `ScanRecorded` -> `scan_recorded`."""
    return _snake(type(event).__name__)


def event_class_name(cls: type) -> str:
    """`event_name` of an event class."""
    return _snake(cls.__name__)


@dataclass(frozen=True)
class HistoryItem:
    version: int
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    device_id: str | None
    operator_id: str | None
    details: dict[str, Any]
    previous_hash: str
    event_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "type": self.event_type,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "device_id": self.device_id,
            "operator_id": self.operator_id,
            "details": chain.canonical(self.details),
            "previous_hash": self.previous_hash,
            "event_hash": self.event_hash,
        }


def history(service: ParcelService, tracking_no: str, *, reveal: bool = False,
            events: list[Any] | None = None) -> list[HistoryItem]:
    """Every event of a parcel (or these of its `events`), in order. Personal data masked
    unless `reveal`; `[erased]` once the parcel's key has been destroyed."""
    events = service.stored_events(tracking_no) if events is None else events
    pid = parcel_id(tracking_no)
    opener = service.personal.opener([pid])
    items = []
    for event in events:
        details = {k: v for k, v in vars(event).items() if k not in _COMMON}
        manifest = details.get("manifest")
        if isinstance(manifest, dict):
            manifest = dict(manifest)
            manifest["sender"] = opener.open(pid, manifest.pop("sender_sealed"), reveal=reveal)
            manifest["receiver"] = opener.open(pid, manifest.pop("receiver_sealed"), reveal=reveal)
            manifest.pop("fingerprint", None)
            details["manifest"] = manifest
        if "receiver_sealed" in details:
            details["receiver"] = opener.open(pid, details.pop("receiver_sealed"), reveal=reveal)
        # Free text that may name a person, sealed or (before it was) in the clear.
        if details.get("signed_by"):
            details["signed_by"] = opener.text(pid, details["signed_by"], reveal=reveal,
                                               mask=mask_signature)
        for name in ("note", "detail", "reason"):
            if isinstance(details.get(name), str):
                details[name] = opener.text(pid, details[name], reveal=reveal)
        if isinstance(details.get("evidence"), list):
            details["evidence"] = [opener.text(pid, e, reveal=reveal) for e in details["evidence"]]
        items.append(
            HistoryItem(
                version=event.originator_version,
                event_type=event_name(event),
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                device_id=event.device_id,
                operator_id=event.operator_id,
                details=details,
                previous_hash=event.previous_hash,
                event_hash=event.event_hash,
            )
        )
    return items


def history_report(service: ParcelService, tracking_no: str, *, as_of: datetime | None = None,
                   recorded_by: datetime | None = None, reveal: bool = False,
                   ) -> tuple[dict[str, Any], list[HistoryItem]]:
    """What an auditor reads: the parcel's state and its events, on both clocks.

    `recorded_by`: only what had been recorded by then (what the system knew, and so what
    the customer was shown). `as_of`: the parcel as it stood then by when things happened,
    late uploads included; its events are those that had happened by then, with the
    corrections made to them. ParcelNotFound when nothing is left to show.
    """
    known = [e for e in service.stored_events(tracking_no)
             if recorded_by is None or e.recorded_at <= recorded_by]
    if not known:
        raise ParcelNotFound(tracking_no)
    parcel = replay(known)
    items = history(service, tracking_no, reveal=reveal, events=known)
    if as_of is None:
        state = parcel.state
        open_exceptions = [(r.exception_id, r.code, r.status) for r in parcel.open_exceptions]
    else:
        standing = standing_at(parcel, known, as_of)
        if standing is None:
            raise ParcelNotFound(tracking_no)
        state = standing.state
        open_exceptions = [(r.exception_id, r.code, r.status) for r in standing.open_exceptions]
        happened = {i.version for i in items if i.occurred_at <= as_of}
        items = [i for i in items
                 if i.version in happened or i.details.get("target_version") in happened]
    head = {
        "tracking_no": tracking_no,
        "as_of": as_of.isoformat() if as_of else None,
        "recorded_by": recorded_by.isoformat() if recorded_by else None,
        "status": str(state.status),
        "flags": sorted(str(f) for f in state.flags),
        "location": state.location,
        "open_exceptions": [{"id": i, "code": str(c), "status": str(st)}
                            for i, c, st in open_exceptions],
    }
    return head, items


class ChainWalk:
    """Checks stored events one by one against the chain, per parcel."""

    def __init__(self, service: ParcelService,
                 seen: Callable[[UUID, int, dict[str, Any], bool], None] | None = None):
        self.service = service
        self.heads: dict[UUID, tuple[int, str]] = {}  # parcel -> (version, hash) seen last
        self.broken: dict[UUID, BrokenLink] = {}
        self.tracking_nos: dict[UUID, str] = {}
        self.events = 0
        # Told of every event read (parcel, version, fields, whether its link holds):
        # checkpoints compare what they anchored with what is stored.
        self.seen = seen

    def check(self, stored: StoredEvent) -> None:
        pid = stored.originator_id
        assert isinstance(pid, UUID)
        self.events += 1
        if pid in self.broken:
            return  # the first broken link is the one that matters
        version, previous = self.heads.get(pid, (0, chain.GENESIS))
        try:
            event = self.service.mapper.to_domain_event(stored)
            fields = vars(event)
            if getattr(type(event), "class_version", 1) > 1:
                fields = self._as_stored(stored, event)
        except Exception as e:  # noqa: BLE001 — anything unreadable is a broken link
            self.broken[pid] = BrokenLink(
                pid, stored.originator_version, stored.topic.rsplit(".", 1)[-1],
                f"stored event cannot be read ({type(e).__name__})",
            )
            return
        if "tracking_no" in fields:
            self.tracking_nos[pid] = fields["tracking_no"]
        link = chain.check_link(
            pid, stored.originator_version, stored.topic, fields, previous, version + 1
        )
        if self.seen is not None:
            self.seen(pid, stored.originator_version, fields, link is None)
        if link is not None:
            self.broken[pid] = link
        self.heads[pid] = (stored.originator_version, fields.get("event_hash", ""))


    def _as_stored(self, stored: StoredEvent, event: Any) -> dict[str, Any]:
        """The event's fields as they were written, before the library upcast them to
        the class's current version (a renamed field): what its digest covers."""
        mapper = self.service.mapper
        state = stored.state
        if mapper.cipher:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor:
            state = mapper.compressor.decompress(state)
        fields: dict[str, Any] = mapper.transcoder.decode(state)
        fields.pop("class_version", None)  # added by the mapper on writing, never hashed
        fields["originator_id"] = event.originator_id
        fields["originator_version"] = event.originator_version
        return fields


@dataclass
class VerifyReport:
    parcels: int = 0
    events: int = 0
    broken: list[tuple[str, BrokenLink]] = field(default_factory=list)  # (tracking_no, link)

    @property
    def ok(self) -> bool:
        return not self.broken


def verify(service: ParcelService, tracking_no: str, *,
           seen: Callable[[UUID, int, dict[str, Any], bool], None] | None = None,
           ) -> VerifyReport:
    pid = parcel_id(tracking_no)
    stored = service.recorder.select_events(pid)
    if not stored:
        raise ParcelNotFound(tracking_no)
    walk = ChainWalk(service, seen)
    for event in stored:
        walk.check(event)
    return VerifyReport(
        parcels=1, events=walk.events,
        broken=[(tracking_no, link) for link in walk.broken.values()],
    )


def verify_all(
    service: ParcelService, *, page: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    seen: Callable[[UUID, int, dict[str, Any], bool], None] | None = None,
) -> VerifyReport:
    """Walk the whole notification log once, checking every parcel's chain."""
    walk = ChainWalk(service, seen)
    last = service.recorder.max_notification_id() or 0
    start: int | None = None
    while True:
        notes = service.recorder.select_notifications(
            start=start, limit=page, inclusive_of_start=False
        )
        if not notes:
            break
        for note in notes:
            walk.check(note)
        start = notes[-1].id
        if progress:
            progress(start, last)
    return VerifyReport(
        parcels=len(walk.heads) + len(set(walk.broken) - set(walk.heads)),
        events=walk.events,
        broken=[
            (walk.tracking_nos.get(pid, str(pid)), link) for pid, link in walk.broken.items()
        ],
    )
