"""What a notification can say about one event: the parcel as it stood right after it.

Every event is read back from the store (the topic carries only public data and ids)
and the parcel is replayed up to that event, so a message says where the parcel was and
when it was expected *then*, and the same event always yields the same message, however
often it is redelivered. Status before and after tell whether the event changed it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import LRUCache

from parcelflow.application.audit import event_name
from parcelflow.application.service import ParcelService
from parcelflow.domain.eta import estimate_eta, next_expected
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.transit_times import Prediction, current_prediction, promise_news
from parcelflow.domain.vocabulary import Fact, Status
from parcelflow.adapters.transit_models import ModelsInForce, models_in_force

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EventRef:
    """An event to notify about: its stable id and where it is in the store."""

    event_id: str
    parcel_id: UUID
    version: int


@dataclass(frozen=True)
class Place:
    code: str
    name_zh: str
    name_en: str
    city_zh: str
    city_en: str


@dataclass(frozen=True)
class EventFacts:
    ref: EventRef
    tracking_no: str
    event: str  # e.g. "scan_recorded", "exception_raised"
    occurred_at: datetime
    status: str
    previous_status: str | None
    scan_type: str | None
    place: Place | None
    eta: datetime | None
    promised_by: datetime | None
    next_activity: str | None
    language: str
    merchant_id: str | None
    receiver_sealed: str | None
    attempt_reason: str | None = None
    failed_attempts: int = 0
    exception_code: str | None = None
    customer_facing: bool = False
    caused_by: str | None = None  # scan type of the scan that raised the exception
    note: str | None = None  # the scanner's note on the scan behind it (to the receiver only)
    pickup_code: str | None = None
    recorded_at: datetime | None = None  # when the store recorded the event (server clock)
    predicted: Prediction | None = None  # the predicted delivery range right after it
    # "past_promise": this event moved the prediction's likely time past the promise
    # (it was within it, or there was none, just before); "promise_missed": the first
    # event after the promised time, the parcel not delivered. None: neither.
    eta_change: str | None = None

    @property
    def status_changed(self) -> bool:
        return self.previous_status is not None and self.status != self.previous_status


@dataclass(frozen=True)
class _Before:
    predicted: Prediction | None  # the prediction just before the event
    last_occurred: datetime | None  # the latest occurred_at on the timeline then


@dataclass(frozen=True)
class _Folded:
    """A parcel kept folded between batches, with the delivery prediction made at
    version `predicted_at` (None: none was made; a prediction may itself be None). The
    parcel is folded further in place, so the version is kept beside the prediction."""

    parcel: Parcel
    predicted: Prediction | None
    predicted_at: int | None


# Paperwork, not news of the parcel: registered (or its manifest attached) after the
# promised time, it has not missed anything yet.
_PAPERWORK = frozenset({str(Fact.REGISTERED), str(Fact.MANIFEST_ATTACHED)})


def _last_occurred(parcel: Parcel | None) -> datetime | None:
    timeline = parcel.state.timeline if parcel is not None else ()
    return max((e.occurred_at for e in timeline if e.kind not in _PAPERWORK), default=None)


def _eta_change(parcel: Parcel, event: Parcel.Event, was: _Before,
                now: Prediction | None) -> str | None:
    state = parcel.state
    arrived = state.delivered is not None or state.status == Status.AWAITING_PICKUP
    paperwork = isinstance(event, (Parcel.Registered, Parcel.SeenBeforeManifest,
                                   Parcel.ManifestAttached))
    return promise_news(parcel.promised_by, event.occurred_at, arrived=arrived or paperwork,
                        last_occurred_before=was.last_occurred, before=was.predicted, now=now)


class FactFinder:
    """`predictions`: the delivery prediction and its news (`predicted`, `eta_change`)
    are found; `for_receivers`: so are what only a receiver's message says
    (`next_activity`, the scanner's `note`, the `pickup_code`). A worker whose rules use
    neither (merchant webhooks on status changes) leaves them None: they are over a
    quarter of the deciding's instructions (`bench/notify_instructions.py`), and a
    pickup code is personal data it has no use for."""

    def __init__(self, service: ParcelService, *, default_language: str = "zh-CN",
                 cache_size: int = 100_000, predictions: bool = True,
                 for_receivers: bool = True):
        self.service = service
        self.default_language = default_language
        self.predictions = predictions
        self.for_receivers = for_receivers
        self._parcels: LRUCache[UUID, _Folded] = LRUCache(maxsize=cache_size)
        self._models: ModelsInForce | None = None

    def _predicted(self, parcel: Parcel | None, **known: Any) -> Prediction | None:
        """The current prediction; `known`: `fixed_now=` the parcel's `estimate_eta`,
        when the caller has it."""
        if parcel is None or not self.predictions:
            return None
        if self._models is None:
            self._models = models_in_force(self.service)
        return current_prediction(parcel.state, parcel.manifest, self.service.network,
                                  self._models, revised=parcel.eta, **known)

    def facts(self, refs: Iterable[EventRef]) -> list[EventFacts]:
        """Facts per event, in the order given; events not in the store are left out."""
        refs = list(refs)
        wanted: dict[UUID, dict[int, EventRef]] = defaultdict(dict)
        for ref in refs:
            wanted[ref.parcel_id][ref.version] = ref
        held = {pid: self._cached(pid, min(by_version)) for pid, by_version in wanted.items()}
        # One query, for the events to fold: those after the version held (all of a
        # parcel's when it is not held) up to the last one wanted. A parcel's next event,
        # not its whole history again.
        stored = self.service.recorder.select_events_in(
            {pid: range(f.parcel.version + 1 if f is not None else 1, max(wanted[pid]) + 1)
             for pid, f in held.items()})
        found: dict[tuple[UUID, int], EventFacts] = {}
        for pid, by_version in wanted.items():
            last = max(by_version)
            folded = held[pid]
            parcel = folded.parcel if folded is not None else None
            # The prediction at the parcel's version: the next event's "before" when
            # nothing came between (the usual case: every event of a parcel is wanted,
            # and the parcel was held from its last batch), instead of predicting again.
            known = (folded.predicted_at, folded.predicted) \
                if folded is not None and folded.predicted_at is not None else None
            for record in stored.get(pid, []):
                version = record.originator_version
                if version > last:
                    break
                event = self.service.mapper.to_domain_event(record)
                wanted_here = version in by_version
                before = parcel.state.status if parcel is not None and wanted_here else None
                was = None
                if wanted_here:
                    prior = known[1] if known is not None and parcel is not None \
                        and known[0] == parcel.version else self._predicted(parcel)
                    was = _Before(prior, _last_occurred(parcel) if self.predictions else None)
                parcel = event.mutate(parcel)  # type: ignore[arg-type,assignment]
                if wanted_here:
                    assert parcel is not None and was is not None
                    told = self._facts(by_version[version], event, parcel,  # type: ignore[arg-type]
                                       before, was)
                    found[(pid, version)] = told
                    known = (parcel.version, told.predicted)
            if parcel is not None:
                at, predicted = known if known is not None else (None, None)
                self._parcels.put(pid, _Folded(parcel, predicted, at))
        missing = [r.event_id for r in refs if (r.parcel_id, r.version) not in found]
        if missing:
            log.warning("notify.events_not_in_store", count=len(missing), first=missing[0])
        return [found[(r.parcel_id, r.version)] for r in refs
                if (r.parcel_id, r.version) in found]

    def _cached(self, pid: UUID, first: int) -> _Folded | None:
        """The parcel as folded for an earlier batch, if it stops before `first`; events
        arrive mostly in order, so usually only the new ones are decoded and folded."""
        try:
            folded = self._parcels.get(pid)
        except KeyError:
            return None
        return folded if folded.parcel.version < first else None

    def _facts(self, ref: EventRef, event: Parcel.Event, parcel: Parcel,
               before: Any, was: _Before) -> EventFacts:
        state = parcel.state
        network = self.service.network
        manifest = parcel.manifest
        eta = estimate_eta(state, manifest, network, revised=parcel.eta)
        predicted = self._predicted(parcel, fixed_now=eta)
        receivers = self.for_receivers
        step = next_expected(state, manifest, network) if receivers else None
        fields = vars(event)
        scan_type = fields.get("scan_type")
        facts: dict[str, Any] = {}
        if scan_type == "delivery_attempt":
            facts.update(attempt_reason=fields.get("attempt_reason"),
                         failed_attempts=state.failed_attempts)
        if scan_type is not None and receivers:
            facts["note"] = fields.get("note")
        if isinstance(event, Parcel.ExceptionRaised):
            # Raised by a scan (its occurrence is the scan id): the scan says more.
            version = parcel.scan_versions.get(event.occurrence)
            entry = parcel.entries.get(version) if version is not None else None
            facts.update(exception_code=event.code, customer_facing=event.customer_facing,
                         caused_by=entry.kind if entry else None)
            if receivers:
                facts["note"] = entry.scan.note if entry and entry.scan else None
        if scan_type == "held_at_pickup_point" and receivers:
            facts["pickup_code"] = self.pickup_code(parcel.id, fields["scan_id"])
        return EventFacts(
            ref=ref,
            tracking_no=parcel.tracking_no,
            event=event_name(event),
            occurred_at=event.occurred_at,
            status=str(state.status),
            previous_status=str(before) if before is not None else None,
            scan_type=scan_type,
            place=self._place(state.location),
            eta=eta,
            promised_by=parcel.promised_by,
            next_activity=step.activity if step else None,
            language=(manifest.receiver_language if manifest else None) or self.default_language,
            merchant_id=manifest.merchant_id if manifest else None,
            receiver_sealed=parcel.receiver_sealed,
            recorded_at=event.recorded_at,
            predicted=predicted,
            eta_change=_eta_change(parcel, event, was, predicted) if self.predictions else None,
            **facts,
        )

    def _place(self, code: str | None) -> Place | None:
        network = self.service.network
        facility = network.facilities.get(code) if code else None
        if facility is None:
            return None
        city = network.city_of(code)
        return Place(facility.code, facility.name_zh, facility.name_en,
                     city.name_zh if city else facility.city,
                     city.name_en if city else facility.city)

    def pickup_code(self, parcel_id: UUID, scan_id: str) -> str | None:
        return self.service.personal.pickup_code(parcel_id, scan_id)

