"""The relay: every stored event, in log order, onto `parcelflow.parcel-events.v1`.

It follows the store's notification log from its saved position (a row in
`follower_positions`, in the events' own database), publishes each batch keyed by
tracking number, waits until the broker acknowledged all of it (`acks=all`), and only
then saves the position after the batch. So a crash between publishing and saving
publishes that batch again (consumers deduplicate by the CloudEvent id), and nothing
is ever skipped: at-least-once, in per-parcel order.

The producer's pipeline is kept full: batch n+1 is read, encoded and handed to the
producer while batch n's acknowledgements are awaited, and n's position is saved once
they are all in (then n+1's in turn; when the log has nothing new, the batch in flight
is finished before waiting). Per-parcel order holds across batches: one partition per
tracking number, one produce request in flight per connection, a failed request
retried ahead of what follows it (kafka-python's `max_in_flight_requests_per_connection=1`
with retries), and no record ever given up on by the producer while the broker is away
(`kafka.ordered_producer`): what the relay sends again after a timeout queues behind
what the producer still holds. Each CloudEvent is made once, straight from the stored JSON
(`parcel_events.encode_stored`), not from a decoded event object.

If the broker is away, the batch is retried with backoff from the saved position until
it is back. One relay publishes at a time (see `adapters/leader.py`); a second one
waits for the lock and carries on from the saved position when the first one stops.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import LRUCache
from eventsourcing.persistence import Notification
from kafka import KafkaProducer
from kafka.partitioner.default import DefaultPartitioner
from parcelflow.consumers import parcel_events
from parcelflow.consumers.retrying import retrying

from parcelflow import failpoints, metrics
from parcelflow.adapters import kafka
from parcelflow.adapters.leader import LeaderLock
from parcelflow.adapters.log_follower import LogFollower, batch_end
from parcelflow.adapters.positions import RELAY, PositionStore
from parcelflow.application.service import ParcelService
from parcelflow.settings import Settings

log = structlog.get_logger(__name__)


class LockLost(RuntimeError):
    pass


class LagSum:
    """The relay lag gauge over every relay of this process (one per shard): the sum of
    each one's last reported backlog, not whichever reported last."""

    def __init__(self, gauge: Any = metrics.RELAY_LAG_EVENTS):
        self._gauge = gauge
        self._lags: dict[int, int] = {}
        self._lock = threading.Lock()

    def report(self, relay: object, lag: int) -> int:
        with self._lock:
            self._lags[id(relay)] = max(0, lag)
            total = sum(self._lags.values())
            self._gauge.set(total)
        return total

    def forget(self, relay: object) -> None:
        with self._lock:
            self._lags.pop(id(relay), None)
            self._gauge.set(sum(self._lags.values()))


RELAY_LAGS = LagSum()


class Relay:
    def __init__(self, service: ParcelService, producer: KafkaProducer, *, topic: str,
                 positions: PositionStore, lock: LeaderLock, name: str = RELAY,
                 batch_size: int = 1000, send_timeout: float = 30.0, max_backoff: float = 10.0):
        self.service = service
        self.producer = producer
        self.topic = topic
        self.positions = positions
        self.lock = lock
        self.name = name
        self.send_timeout = send_timeout
        self.follower = LogFollower(service.recorder, batch_size=batch_size)
        self._tracking: LRUCache[UUID, str] = LRUCache(maxsize=500_000)
        self.max_backoff = max_backoff
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[tuple[bytes, int], int] = {}
        self.published = 0  # messages acknowledged by the broker (duplicates included)

    @property
    def position(self) -> int:
        return self.positions.get(self.name)

    def run(self, stop: threading.Event, *, follow: bool = True) -> None:
        """Publish until `stop` (or, without `follow`, until the log head is published)."""
        if not self.lock.acquire(stop):
            return
        try:
            # The broker or the store away: publishing starts again from the saved
            # position once they are back (what was in flight is sent again), never
            # skipping anything.
            retry = retrying("relay.retry", stop, most=self.max_backoff)
            while not stop.is_set() and retry(self._stream, stop, follow) is False:
                pass  # it failed after saving progress: on at once, the backoff afresh
        finally:
            self.lock.release()

    def _stream(self, stop: threading.Event, follow: bool) -> bool:
        """Publish from the saved position, each batch sent while the one before it is
        being acknowledged. True at the end (the head reached without `follow`, or
        `stop`); False when it failed after saving some progress (the caller starts
        again at once); raises when it failed before saving any."""
        in_flight: list[tuple[int, list[Any]]] = []  # at most one batch: (last id, futures)
        progressed = False

        def finish() -> None:
            nonlocal progressed
            if in_flight:
                last, pending = in_flight.pop()
                self._settle(last, pending)
                progressed = True

        try:
            for notes in self.follower.batches(self.position, follow=follow, stop=stop,
                                               idle=finish):
                if not self.lock.held():
                    self.lock.acquire(stop)  # wait until it is ours again, then start over
                    raise LockLost("the relay lock was lost (its database connection ended)")
                # Empty: only events a bucket move copied in (published from their own
                # shard); the position still moves past them (log_follower.batch_end).
                pending = self._send(notes) if notes else []
                finish()  # the batch before this one: acknowledged, then its position
                in_flight.append((batch_end(notes), pending))
            finish()
        except Exception:
            if not progressed:
                raise
            log.warning("relay.restart", detail="failed after saving progress: again from "
                        "the saved position")
            return False
        return True

    def _settle(self, last: int, pending: list[Any]) -> None:
        """A batch's acknowledgements all in: its position saved."""
        self.published += kafka.acknowledged(pending, timeout=self.send_timeout)
        failpoints.reached("relay.after_publish")
        self.positions.save(self.name, last)
        self._report_lag(last)

    def _send(self, notes: Sequence[Notification]) -> list[Any]:
        """Hand a batch to the producer (not waiting for it): its futures."""
        numbers = self._tracking_numbers(notes)
        partitions = self.producer.partitions_for(self.topic)  # waits for metadata if need be
        decode = self.service.mapper.to_domain_event
        messages = []
        for note in notes:
            tracking_no = numbers[note.originator_id]
            key = tracking_no.encode()
            value = parcel_events.encode_stored(note, tracking_no, decode=decode)
            messages.append(kafka.Message(self.topic, value, key, parcel_events.HEADERS,
                                          self._partition(key, partitions)))
        return kafka.send_pending(self.producer, messages)

    def _partition(self, key: bytes, partitions: set[int]) -> int:
        """The default partitioner's choice (murmur2 of the key, as Java clients do),
        remembered per parcel: the producer would hash every message again."""
        count = len(partitions)
        cached = self._partitions.get((key, count))
        if cached is None:
            ordered = sorted(partitions)
            cached = self._partitioner(key, ordered, ordered)
            if len(self._partitions) > 200_000:
                self._partitions.clear()
            self._partitions[(key, count)] = cached
        return cached

    def _tracking_numbers(self, notes: Sequence[Notification]) -> dict[UUID, str]:
        """Tracking numbers by parcel id: from the parcel's first event, which is in this
        batch for a new parcel and otherwise read once (one query) and cached."""
        found: dict[UUID, str] = {}
        missing: set[UUID] = set()
        for note in notes:
            pid = note.originator_id
            if pid in found:
                continue
            number = parcel_events.stored_tracking_no(note) \
                if note.originator_version == 1 else None
            if number is None:
                try:
                    number = self._tracking.get(pid)
                except KeyError:
                    missing.add(pid)
                    continue
            found[pid] = number
            self._tracking.put(pid, number)
        if missing - found.keys():
            for pid, stored in self.service.recorder.select_events_for(
                    list(missing - found.keys())).items():
                first = self.service.mapper.to_domain_event(stored[0])
                found[pid] = first.tracking_no  # type: ignore[attr-defined]
                self._tracking.put(pid, found[pid])
        return found

    def _report_lag(self, position: int) -> None:
        """After every batch, not at most once a second: the last batch before the relay
        goes idle must be reported, or the gauge keeps an old backlog for as long as no
        new event comes (30 s and more). The head is one indexed `max()` per batch,
        small beside the batch's wait for the broker's acknowledgement."""
        RELAY_LAGS.report(self, self.follower.head() - position)

    def close(self) -> None:
        RELAY_LAGS.forget(self)
        self.follower.close()
        self.producer.close(timeout=5)
        self.lock.release()


def build_relay(service: ParcelService, settings: Settings, *,
                client_id: str = "parcelflow-relay") -> Relay:
    kafka.ensure_topics(settings, [settings.kafka_events_topic])
    return _relay(service, settings, settings.database_url, client_id)


def build_relays(service: ParcelService, settings: Settings, *,
                 client_id: str = "parcelflow-relay") -> list[Relay]:
    """One relay per shard into the same events topic, keyed by tracking number as with
    one store: each follows its shard's log, keeps its position there and leads by a
    lock on that shard, so the shards' relays may run in one process or in several."""
    shards = getattr(service, "shards", None)
    if shards is None:
        return [build_relay(service, settings, client_id=client_id)]
    kafka.ensure_topics(settings, [settings.kafka_events_topic])
    return [_relay(shard, settings, url, f"{client_id}-{i}")
            for i, (shard, url) in enumerate(zip(shards, settings.shard_urls(), strict=True))]


def _relay(service: ParcelService, settings: Settings, database_url: str,
           client_id: str) -> Relay:
    return Relay(
        service, kafka.ordered_producer(settings, client_id=client_id),
        topic=settings.kafka_events_topic,
        positions=PositionStore(service.factory.datastore),  # type: ignore[attr-defined]
        lock=LeaderLock(database_url, f"relay-{settings.kafka_events_topic}"),
        batch_size=settings.relay_batch_size, send_timeout=settings.kafka_send_timeout,
    )
