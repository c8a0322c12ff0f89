"""The relay's producer keeps the order it was handed records in, per partition, across
an outage of the broker longer than its send timeout (consumers/relay.py: per-parcel
order across batches). On the real broker, stopped and started again."""

from __future__ import annotations

import time
from typing import Any

from parcelflow.adapters import kafka
from parcelflow.settings import Settings
from tests.support.kafka_broker import KafkaBroker, unique_name
from tests.support.topics import read_topic
from tests.support.workers import wait_until

SEND_TIMEOUT = 2.0  # s; a plain `kafka.producer` gives a record up 1 s after it
# Larger than the producer's batch size: each record is a batch of its own, created when
# it is handed over, so the first ones are older than the later ones by the pause.
PADDING = b" " * (300 * 1024)


def test_records_handed_over_while_the_broker_is_away_arrive_in_order_once_it_is_back():
    topic = unique_name("ordering")
    broker = KafkaBroker().start()  # its own: this test stops and starts it
    try:
        broker.create_topics([topic], partitions=1)
        settings = Settings(_env_file=None, kafka_bootstrap_servers=broker.bootstrap,  # type: ignore[call-arg]
                            kafka_idempotence=False, kafka_send_timeout=SEND_TIMEOUT)
        producer = kafka.ordered_producer(settings, client_id="ordering-test")
        try:
            handed_over_in_order(broker, producer, topic)
        finally:
            producer.close(timeout=0)  # what it still holds (only after a failure) is dropped
    finally:
        broker.stop()


def handed_over_in_order(broker: KafkaBroker, producer: Any, topic: str) -> None:
    producer.send(topic, key=b"parcel", value=b"before").get(timeout=10)

    broker.stop()
    first = [producer.send(topic, key=b"parcel", value=b"first-%d " % i + PADDING)
             for i in range(3)]
    # Longer than a plain producer's delivery timeout (send timeout + 1 s): by now it
    # would have given the first records up.
    time.sleep(2 * SEND_TIMEOUT)
    later = [producer.send(topic, key=b"parcel", value=b"later-%d " % i + PADDING)
             for i in range(3)]
    # Back at once (empty: its storage is memory), while the later records are young: a
    # producer that gave the first ones up delivers the later ones alone, ahead of the
    # first ones' next sending.
    broker.start()
    broker.create_topics([topic], partitions=1)

    wait_until(lambda: all(f.is_done for f in first + later), what="every send to settle")
    values = [r.value.split(b" ", 1)[0] for r in read_topic(
        broker.bootstrap, topic, 6, partitions=1, timeout=10)]
    assert values == [b"first-0", b"first-1", b"first-2",
                      b"later-0", b"later-1", b"later-2"]
    assert all(f.succeeded() for f in first + later)
