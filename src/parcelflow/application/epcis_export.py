"""EPCIS 2.0 exports for partners and regulators: one parcel, or every scan recorded in a
period. Used alike by `parcelflow export epcis` and `GET /v1/parcels/{no}/epcis`.

Read from the store (the source of truth), never from a read model. A period export of
a sharded store reads every shard's log in turn (each parcel is on one shard), so the
parcels come shard by shard, each shard's in the order of its log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.service import ParcelService
from parcelflow.application.sharding import stores
from parcelflow.domain import epcis
from parcelflow.domain.parcel import Parcel

# The events an export is made of: scans and their corrections.
_TOPICS = [get_topic(c) for c in (Parcel.ScanRecorded, Parcel.EventVoided, Parcel.ScanAmended)]
_PAGE = 2000
_LOAD = 500  # parcels loaded per query


class EpcisExport:
    def __init__(self, service: ParcelService, ids: epcis.Identifiers):
        self.service = service
        self.ids = ids

    def parcel(self, tracking_no: str) -> list[dict[str, Any]]:
        """Every EPCIS event of one parcel (ParcelNotFound when it has no events)."""
        return epcis.events(self.service.stored_events(tracking_no), tracking_no, self.ids)

    def recorded_between(self, start: datetime, end: datetime
                         ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Per parcel, the EPCIS events recorded in [start, end): its scans, and the error
        declarations and corrective events of corrections made then; every shard's."""
        for store in stores(self.service):
            yield from self._recorded_on(store, start, end)

    def _recorded_on(self, store: ParcelService, start: datetime, end: datetime
                     ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        touched: list[UUID] = []
        seen: set[UUID] = set()
        position: int | None = None
        recorder = store.recorder
        while True:
            notes = recorder.select_notifications(start=position, limit=_PAGE, topics=_TOPICS,
                                                  inclusive_of_start=False)
            if not notes:
                break
            for note in notes:
                if note.originator_id in seen:
                    continue
                event = store.mapper.to_domain_event(note)
                if start <= event.recorded_at < end:  # type: ignore[attr-defined]
                    seen.add(note.originator_id)  # type: ignore[arg-type]
                    touched.append(note.originator_id)  # type: ignore[arg-type]
            position = notes[-1].id
        for at in range(0, len(touched), _LOAD):
            chunk = touched[at:at + _LOAD]
            loaded = recorder.select_events_for(chunk)
            for pid in chunk:
                events = [store.mapper.to_domain_event(s) for s in loaded.get(pid, [])]
                if not events:
                    continue
                number = events[0].tracking_no  # type: ignore[attr-defined]  # its creation
                picked = [e for e in epcis.events(events, number, self.ids)
                          if start <= datetime.fromisoformat(e["recordTime"]) < end]
                if picked:
                    yield number, picked

    def document(self, event_list: list[dict[str, Any]]) -> dict[str, Any]:
        return epcis.document(event_list, self.ids, self.service.clock())

    def standalone(self, event: dict[str, Any]) -> dict[str, Any]:
        return epcis.standalone(event, self.ids)


__all__ = ["EpcisExport", "ParcelNotFound"]
