"""Scans onto a topic as scanners send them, and a whole topic read back from the
beginning without joining a group."""

from __future__ import annotations

import json
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from tests.support.kafka_broker import CONSUMER_CONFIG, PRODUCER_CONFIG


def produce(bootstrap: str, topic: str, scans: list[dict], **config: Any) -> None:
    """Scans (wire dicts) keyed by tracking number, each acknowledged by the broker."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER_CONFIG, **config})
    futures = [producer.send(topic, key=s["tracking_no"].encode(), value=json.dumps(s).encode())
               for s in scans]
    producer.flush()
    for future in futures:
        future.get(timeout=10)
    producer.close()


def read_topic(bootstrap: str, topic: str, at_least: int, *, partitions: int = 4,
               timeout: float = 20.0, settle: float = 0.5) -> list[Any]:
    """Every record of `topic`: waits until at least `at_least` arrived (or `timeout`),
    then `settle` seconds more for any extra ones."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **CONSUMER_CONFIG)
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    while time.monotonic() < deadline:
        polled = consumer.poll(timeout_ms=100)
        for batch in polled.values():
            records.extend(batch)
        if len(records) >= at_least:
            quiet_until = quiet_until or time.monotonic() + settle
            if time.monotonic() >= quiet_until:
                break
    consumer.close()
    return records
