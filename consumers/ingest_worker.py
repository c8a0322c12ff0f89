"""Ingest workers: scans from the `parcelflow.scans.v1` topic into the event store.

A consumer group shares the topic's partitions; the key is the tracking number, so one
worker owns a parcel at a time and keeps it cached between polls. Each poll becomes one
`ParcelService.ingest` call (split only past `max_batch`): one load query, one save, one
transaction. Offsets are committed after the save. A worker that dies before committing
leaves its batch to be read again, by itself or by whoever gets the partition; the scans
already saved come back as duplicates (by scan_id) and change nothing.

A message that is not JSON, not a JSON object, or that ingest rejects goes to
`parcelflow.scans.dlq.v1` as it was, with the reason in the `parcelflow-reason` header.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import structlog
from kafka.consumer.fetcher import ConsumerRecord
from parcelflow.consumers.kafka_batches import BatchConsumer, DeadLetter

from parcelflow.adapters import kafka
from parcelflow.application.results import ItemStatus
from parcelflow.application.service import ParcelService
from parcelflow.settings import Settings

log = structlog.get_logger(__name__)


def parse(value: bytes | None) -> tuple[Any, str | None]:
    """A message's scan, or why it is not one."""
    if not value:
        return None, "empty message"
    try:
        item = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        return None, f"not valid JSON: {e.msg if hasattr(e, 'msg') else e}"
    if not isinstance(item, dict):
        return None, f"not a JSON object (a {type(item).__name__})"
    return item, None


class IngestWorker:
    def __init__(self, service: ParcelService, batches: BatchConsumer, *, max_batch: int):
        self.service = service
        self.batches = batches
        self.max_batch = max_batch

    def handle(self, records: list[ConsumerRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        scans: list[tuple[ConsumerRecord, Any]] = []
        for record in records:
            item, reason = parse(record.value)
            if reason is not None:
                dead.append(DeadLetter(record, reason))
            else:
                scans.append((record, item))
        for start in range(0, len(scans), self.max_batch):
            chunk = scans[start:start + self.max_batch]
            report = self.service.ingest([item for _, item in chunk])
            for result in report.results:
                if result.status == ItemStatus.REJECTED:
                    dead.append(DeadLetter(chunk[result.index][0], result.reason or "rejected"))
        return dead

    def run(self, stop: threading.Event) -> None:
        log.info("ingest_worker.started", topic=self.batches.consumer.subscription())
        self.batches.run(self.handle, stop)

    def close(self) -> None:
        self.batches.close()


def build_ingest_worker(service: ParcelService, settings: Settings, *,
                        client_id: str = "parcelflow-ingest") -> IngestWorker:
    kafka.ensure_topics(settings, [settings.kafka_scans_topic, settings.kafka_scans_dlq_topic])
    consumer = kafka.consumer(settings, [settings.kafka_scans_topic],
                              group_id=settings.kafka_ingest_group, client_id=client_id,
                              max_poll_records=settings.max_batch)
    producer = kafka.producer(settings, client_id=f"{client_id}-dlq")
    batches = BatchConsumer("ingest_worker", consumer, producer,
                            dlq_topic=settings.kafka_scans_dlq_topic,
                            max_records=settings.max_batch,
                            send_timeout=settings.kafka_send_timeout)
    return IngestWorker(service, batches, max_batch=settings.max_batch)
