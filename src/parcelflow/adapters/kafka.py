"""Kafka clients (kafka-python 2.3.x) built from the settings, and the topics we use.

Every producer waits for all in-sync replicas (`acks="all"`) and keeps one request in
flight, so a retried send cannot overtake the next one and per-parcel order holds.
Idempotence (`enable_idempotence`) is on by default, for Apache Kafka; kafka-python
only speaks InitProducerId v0/v1, which some Kafka-protocol brokers refuse (the Tansu
broker our tests run on answers every send with an error), so it is a setting.

Consumers never auto-commit: each worker commits after its work is durable.
`auto_offset_reset="earliest"`: a new group starts at the beginning, so nothing sent
before the first worker joined is skipped (and "latest" is unreliable on Tansu).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from parcelflow.settings import Settings

log = structlog.get_logger(__name__)

# Highest admin API version whose metadata calls work against every broker we run on
# (kafka-python 2.3 cannot decode the ACL bits newer versions report from Tansu).
ADMIN_API_VERSION = (2, 2)

# A client asks the broker its versions when it is made, and raises NoBrokersAvailable
# when no answer comes within this (kafka-python's default, 2 s, is short for a busy
# broker; a worker would die on start after `ensure_topics` had reached the broker).
API_PROBE_TIMEOUT_MS = 10_000


def bootstrap(settings: Settings) -> list[str]:
    if not settings.kafka_bootstrap_servers:
        raise ValueError("PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS is not set")
    return [s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()]


def producer(settings: Settings, *, client_id: str, **overrides: Any) -> KafkaProducer:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap(settings),
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "max_in_flight_requests_per_connection": 1,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "compression_type": None,
        # A send must not block a worker for a minute when the broker is away: it fails
        # after this, and the caller retries the whole batch.
        "max_block_ms": int(settings.kafka_send_timeout * 1000),
        "request_timeout_ms": int(min(settings.kafka_send_timeout, 30) * 1000),
        "delivery_timeout_ms": int(settings.kafka_send_timeout * 1000) + 1000,
        "reconnect_backoff_max_ms": 2000,
        "api_version_auto_timeout_ms": API_PROBE_TIMEOUT_MS,
    }
    config.update(overrides)
    return KafkaProducer(**config)


# Kafka's "never" for a duration in ms (Java's Integer.MAX_VALUE), about 24.8 days.
NEVER_MS = 2**31 - 1


def ordered_producer(settings: Settings, *, client_id: str, **overrides: Any) -> KafkaProducer:
    """A producer whose records are delivered in the order they were handed to it, per
    partition, however long the broker is away (up to Kafka's "never", 24.8 days): it
    does not give up on a record it holds.

    With a delivery timeout, a batch that waited longer than it while the broker was
    away is expired, and the batch handed over after it, still young, is delivered once
    the broker is back: the relay then sends the expired one again, after its
    successor, and a consumer reads a parcel's later event before its earlier one
    (tests/integration/test_kafka_ordering.py, against a broker stopped for longer than
    the timeout). The caller's own wait (`acknowledged`) still times out, so a worker
    is not held; what it sends again queues behind what is still held, in order (so
    the topic gets duplicates, which consumers drop by CloudEvent id). What it holds is
    bounded by the producer's buffer memory (kafka-python's 32 MB): once that is full, a
    send waits `max_block_ms` and fails, and the caller retries (kafka-python's
    behaviour, not tested here)."""
    return producer(settings, client_id=client_id,
                    **{"delivery_timeout_ms": NEVER_MS, **overrides})


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] | None = None
    partition: int | None = None  # None: the producer's partitioner picks it by key


def _send(producer: KafkaProducer, message: Message) -> Any:
    return producer.send(message.topic, value=message.value, key=message.key,
                         headers=message.headers, partition=message.partition)


def _outcomes(producer: KafkaProducer, pending: Sequence[Any], timeout: float
              ) -> Iterator[BaseException | None]:
    """Flush, then each message's outcome in order: None when the broker acknowledged
    it, else why not. Lazy, so a caller that stops at the first failure waits for no more."""
    try:
        producer.flush(timeout=timeout)
    except KafkaError:
        pass  # the broker is away: each message it did not acknowledge says so below
    for sent in pending:
        if isinstance(sent, BaseException):  # refused before it was sent
            yield sent
            continue
        try:
            sent.get(timeout=0.1)  # flushed: acknowledged, failed with its reason, or unanswered
        except Exception as e:  # noqa: BLE001 — the broker's error or a timeout, per message
            yield e
        else:
            yield None


def send_all(producer: KafkaProducer, messages: Iterable[Message], *, timeout: float) -> int:
    """Send a batch and return once the broker acknowledged every message of it (with
    `acks=all`, every in-sync replica has it); else raise the first failure. A send
    refused at once (too large, no metadata in time) stops the batch. For batches a
    worker retries whole: what was sent before the failure is sent again (consumers
    deduplicate)."""
    pending = [_send(producer, message) for message in messages]
    for outcome in _outcomes(producer, pending, timeout):
        if outcome is not None:
            raise outcome
    return len(pending)


def send_pending(producer: KafkaProducer, messages: Iterable[Message]) -> list[Any]:
    """Hand a batch to the producer without waiting: its futures, for `acknowledged`.
    A send refused at once (too large, no metadata in time) raises."""
    return [_send(producer, message) for message in messages]


def acknowledged(pending: Sequence[Any], *, timeout: float) -> int:
    """Wait until the broker acknowledged every message of a batch sent with
    `send_pending` (else raise the first failure), without flushing what was sent
    after it: the batch behind it stays in the producer's pipeline meanwhile."""
    deadline = time.monotonic() + timeout
    for sent in pending:
        sent.get(timeout=max(0.0, deadline - time.monotonic()))
    return len(pending)


def send_each(producer: KafkaProducer, messages: Iterable[Message], *, timeout: float
              ) -> list[BaseException | None]:
    """Send every message and say for each whether the broker acknowledged it (None) or
    why not; a send refused at once does not stop the others. For a command that reports
    message by message."""
    pending: list[Any] = []
    for message in messages:
        try:
            pending.append(_send(producer, message))
        except KafkaError as e:  # refused before sending (a message over the size limit)
            pending.append(e)
    return list(_outcomes(producer, pending, timeout))


def consumer(settings: Settings, topics: Sequence[str], *, group_id: str, client_id: str,
             max_poll_records: int = 500, **overrides: Any) -> KafkaConsumer:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap(settings),
        "client_id": client_id,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": max_poll_records,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        # Some brokers ignore max_partition_fetch_bytes and answer with several MB: allow
        # large frames, and bound a fetch with fetch_max_bytes instead.
        "fetch_max_bytes": settings.kafka_fetch_max_bytes,
        "receive_message_max_bytes": 64 * 1024 * 1024,
        "fetch_max_wait_ms": 100,
        "reconnect_backoff_max_ms": 2000,
        # A worker may be slow on one batch (a database retry): don't leave the group.
        "max_poll_interval_ms": 300_000,
        "api_version_auto_timeout_ms": API_PROBE_TIMEOUT_MS,
    }
    config.update(overrides)
    return KafkaConsumer(*topics, **config)


def admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap(settings), client_id="parcelflow-admin",
                            api_version=ADMIN_API_VERSION, request_timeout_ms=10_000)


def ensure_topics(settings: Settings, names: Iterable[str], *, timeout: float = 30.0) -> None:
    """Create the topics that are missing (with `kafka_partitions` partitions).

    Workers call this on start, so a fresh cluster (or a broker that lost its topics)
    needs no separate setup step; a broker that auto-creates topics would otherwise
    create them with its own default partition count.
    """
    wanted = list(dict.fromkeys(names))
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = admin(settings)
            try:
                existing = set(client.list_topics())
                for name in wanted:
                    if name in existing:
                        continue
                    try:
                        client.create_topics([NewTopic(name, settings.kafka_partitions, 1)],
                                             timeout_ms=10_000)
                        log.info("kafka.topic_created", topic=name,
                                 partitions=settings.kafka_partitions)
                    except TopicAlreadyExistsError:
                        pass
                return
            finally:
                client.close()
        except KafkaError as e:
            if time.monotonic() > deadline:
                raise
            log.warning("kafka.topics_unavailable", error=str(e))
            time.sleep(1.0)
