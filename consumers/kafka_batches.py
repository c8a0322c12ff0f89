"""The loop every Kafka worker runs: poll a batch, handle it, dead-letter what cannot be
handled, and only then commit.

Offsets are committed after the batch's work is durable (saved in the store, recorded in
the ledger) and after the broker acknowledged every dead letter, so a crash anywhere
before the commit means the batch is read again, never skipped. Redelivery is made
harmless by the handlers (scan_id idempotency, the notification ledger).

If handling fails because the database or the broker is away (`TRANSIENT`), the worker
seeks back to the start of the batch and tries again with backoff
(`consumers.retrying`): the same records, in the same order. A bad record never stops a
partition: the handler turns what it can tell is bad into a dead letter, and a record
that trips a bug (any other exception) is isolated: the batch is split in halves, each
handled on its own, down to the one record that fails, which is dead-lettered with the
error's type and place (never its message, which may quote personal data) while every
other record is handled. Handlers make handling a record twice harmless, so the halves
that were handled before the culprit was found stay handled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

import structlog
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from eventsourcing.persistence import (
    ConnectionPoolClosedError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    WaitInterruptedError,
)
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from parcelflow.consumers.retrying import error_summary, retrying

from parcelflow import failpoints, metrics
from parcelflow.adapters.kafka import Message, send_all
from parcelflow.application.errors import ConflictRetriesExhausted

log = structlog.get_logger(__name__)

REASON_HEADER = "parcelflow-reason"
SOURCE_HEADER = "parcelflow-source"  # topic/partition/offset of the original record
OWN_HEADERS = "parcelflow-"  # the dead-letter headers' namespace: ours alone


# The store or the broker away, or a writer racing us: the whole batch is tried again
# later. Anything else a handler raises is a bug some record trips, and is isolated.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, IntegrityError, InternalError,
    ConnectionPoolClosedError, WaitInterruptedError, ConflictRetriesExhausted,
    psycopg.OperationalError, psycopg.InterfaceError, KafkaError, OSError,
)


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord
    reason: str
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)
    value: bytes | None = None  # default: the original record's value
    token: Any = None  # the handler's own, handed back to `settle`


Handler = Callable[[list[ConsumerRecord]], list[DeadLetter]]
Settle = Callable[[list[DeadLetter]], None]
# The first half of a handler (see `BatchConsumer.run_ahead`): returns the second.
Begin = Callable[[list[ConsumerRecord]], Callable[[], list[DeadLetter]]]


def failure_reason(error: BaseException) -> str:
    """What tripped over a record: the exception's type and where it was raised, never
    its message."""
    return f"could not be processed: {error_summary(error)}"


class BatchConsumer:
    def __init__(self, name: str, consumer: KafkaConsumer, producer: KafkaProducer, *,
                 dlq_topic: str, max_records: int, send_timeout: float = 30.0,
                 max_backoff: float = 10.0,
                 transient: tuple[type[BaseException], ...] = ()):
        self.name = name
        self.consumer = consumer
        self.producer = producer
        self.dlq_topic = dlq_topic
        self.max_records = max_records
        self.send_timeout = send_timeout
        self.max_backoff = max_backoff
        self.transient = TRANSIENT + transient

    def run(self, handle: Handler, stop: threading.Event, *, poll_ms: int = 200,
            settle: Settle | None = None) -> None:
        retry = retrying("kafka.batch_failed", stop, most=self.max_backoff, worker=self.name)
        while not stop.is_set():
            retry(self.step, handle, poll_ms=poll_ms, settle=settle)

    def step(self, handle: Handler, *, poll_ms: int = 200, settle: Settle | None = None) -> int:
        """One poll, handled and committed: the number of records done. When anything
        fails (the store or the broker is away) the consumer is put back at the start of
        the batch and the error raised, so the next step reads the same records again.
        `settle` runs once the broker has acknowledged the batch's dead letters, before
        the commit (what must not be recorded as done unless they were)."""
        polled = self.consumer.poll(timeout_ms=poll_ms, max_records=self.max_records)
        if not polled:
            return 0
        records = [r for tp in sorted(polled) for r in polled[tp]]
        try:
            dead = self._isolating(handle, records)
            failpoints.reached(f"{self.name}.after_handle")
            self._dead_letter(dead)
            if settle is not None:
                settle(dead)
            self._commit(polled)
        except Exception:
            self._rewind(polled)
            raise
        return len(records)

    def run_ahead(self, begin: Begin, stop: threading.Event, *, poll_ms: int = 200,
                  settle: Settle | None = None) -> None:
        """`run` for a handler in two halves: `begin(records)` does what changes nothing
        outside this process (the notifier decides) and returns `finish`, which does the
        rest (sends, records) and returns the dead letters. One poll's `finish` runs on a
        thread of its own while the next poll is read and begun; then that poll is
        dead-lettered, settled and committed as in `step`, and only then is the next
        one's `finish` started. So polls are finished and committed one at a time, in
        order, and a failure rewinds to the oldest poll not committed. A bug (any error
        not transient) sends that poll through `step`, which isolates the record."""
        retry = retrying("kafka.batch_failed", stop, most=self.max_backoff, worker=self.name)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-finish") as pool:
            while not stop.is_set():
                if retry(self._stream_ahead, begin, pool, stop, poll_ms, settle) is None:
                    return  # stopped while failing

    def _stream_ahead(self, begin: Begin, pool: ThreadPoolExecutor, stop: threading.Event,
                      poll_ms: int, settle: Settle | None) -> bool:
        current: tuple[dict[TopicPartition, list[ConsumerRecord]], Future[Any]] | None = None
        polled: dict[TopicPartition, list[ConsumerRecord]] = {}
        in_handler = False  # the error came from the handler's halves (else: as `step`)
        try:
            while not stop.is_set() or current is not None:
                polled = {} if stop.is_set() else \
                    self.consumer.poll(timeout_ms=poll_ms, max_records=self.max_records)
                in_handler = True
                finish = begin([r for tp in sorted(polled) for r in polled[tp]]) \
                    if polled else None
                if current is not None:
                    done, running = current
                    dead = running.result()
                    in_handler = False
                    failpoints.reached(f"{self.name}.after_handle")
                    self._dead_letter(dead)
                    if settle is not None:
                        settle(dead)
                    self._commit(done)
                    current = None
                in_handler = False
                if finish is not None:
                    current = (polled, pool.submit(finish))
                polled = {}
        except Exception as e:
            oldest: dict[TopicPartition, list[ConsumerRecord]] = {}
            for batch in ([] if current is None else [current[0]]) + [polled]:
                for tp, records in batch.items():
                    oldest.setdefault(tp, records)
            if current is not None and not current[1].done():
                try:
                    current[1].result()  # nothing of it may run on behind the rewind
                except Exception:  # noqa: BLE001 — the error that matters is `e`
                    pass
            self._rewind(oldest)
            if not in_handler or isinstance(e, self.transient):
                raise
            # A bug some record trips: that stretch once more, one poll at a time, the
            # record that trips it isolated (`step`).
            self.step(lambda records: begin(records)(), poll_ms=poll_ms, settle=settle)
        return True

    def _isolating(self, handle: Handler, records: list[ConsumerRecord]) -> list[DeadLetter]:
        """`handle(records)`; when that trips a bug, each half on its own, down to the
        record that trips it, which becomes a dead letter. (A batch of n records with
        one culprit costs about 2·log2(n) more calls: 20 for a poll of 1000.)"""
        try:
            return handle(records)
        except self.transient:
            raise
        except Exception as e:
            if len(records) > 1:
                half = len(records) // 2
                return (self._isolating(handle, records[:half])
                        + self._isolating(handle, records[half:]))
            r, reason = records[0], failure_reason(e)
            log.error("kafka.record_failed", worker=self.name, topic=r.topic,
                      partition=r.partition, offset=r.offset, reason=reason)
            return [DeadLetter(r, reason)]

    def _dead_letter(self, dead: list[DeadLetter]) -> None:
        if not dead:
            return
        messages = []
        for letter in dead:
            r = letter.record
            # A producer's own parcelflow-* headers never travel on: a reader takes the
            # first parcelflow-reason it finds, and it must be ours.
            kept = [(k, v) for k, v in (r.headers or [])
                    if not k.lower().startswith(OWN_HEADERS)]
            headers = [*kept, (REASON_HEADER, letter.reason.encode()),
                       (SOURCE_HEADER, f"{r.topic}/{r.partition}/{r.offset}".encode()),
                       *letter.headers]
            value = letter.value if letter.value is not None else r.value
            messages.append(Message(self.dlq_topic, value, r.key, headers))
        failpoints.reached(f"{self.name}.dead_letter")  # a fault test's refused publish
        send_all(self.producer, messages, timeout=self.send_timeout)  # raises if not taken
        metrics.KAFKA_DEAD_LETTERS.labels(self.name).inc(len(dead))
        log.warning("kafka.dead_lettered", worker=self.name, topic=self.dlq_topic,
                    count=len(dead))

    def _commit(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        offsets = {tp: OffsetAndMetadata(batch[-1].offset + 1, "", -1)
                   for tp, batch in polled.items()}
        try:
            self.consumer.commit(offsets)
        except CommitFailedError as e:
            # The group rebalanced while we worked: the partition's new owner reads
            # from the last commit and redoes this batch, which changes nothing twice.
            log.info("kafka.commit_lost_to_rebalance", worker=self.name, error=str(e))

    def _rewind(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assigned = self.consumer.assignment()
        for tp, batch in polled.items():
            if tp in assigned:
                self.consumer.seek(tp, batch[0].offset)

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=5)

