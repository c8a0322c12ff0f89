"""The relay on the real broker: every stored event becomes a CloudEvent on the topic, keyed
by tracking number, readable by the CloudEvents SDK's Kafka binding, without personal
data; the position is saved after the broker's acknowledgement; one relay at a time."""

from __future__ import annotations

import threading
import time

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured_event
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.consumers.relay import build_relay

from tests.support.builders import journey, manifest, recent_start, tracking
from tests.support.kafka_settings import kafka_test_settings
from tests.support.topics import read_topic


@pytest.mark.postgres
def test_stored_events_are_published_as_cloudevents_without_personal_data(
        kafka_broker, make_service, postgres_url):
    from parcelflow.application.service import utcnow

    settings = kafka_test_settings(postgres_url, kafka_broker.bootstrap)
    svc = make_service(postgres_url, clock=utcnow)
    svc.register([manifest(n) for n in (1, 2)])
    svc.ingest(journey(1, t0=recent_start())[:4])
    ExceptionWorkflow(svc).raise_exception(tracking(2), "complaint", by="cs-7",
                                           detail="李华 called: 13987654321")
    stored = {n: svc.stored_events(tracking(n)) for n in (1, 2)}
    total = sum(len(v) for v in stored.values())

    relay = build_relay(make_service(postgres_url, clock=utcnow), settings)
    relay.run(threading.Event(), follow=False)
    assert relay.position == svc.recorder.max_notification_id()
    records = read_topic(kafka_broker.bootstrap, settings.kafka_events_topic, total)
    relay.close()

    assert len(records) == total
    events = []
    for r in records:
        event = from_structured_event(KafkaMessage(headers=dict(r.headers), key=r.key,
                                                   value=r.value))
        assert event.get_subject() == r.key.decode()  # subject = key = tracking number
        events.append(event)
    by_parcel = {n: [e for e in events if e.get_subject() == tracking(n)] for n in (1, 2)}
    for n in (1, 2):
        # one partition per parcel, so its events arrive in version order
        assert [e.get_data()["version"] for e in by_parcel[n]] == \
            [e.originator_version for e in stored[n]]
        assert [e.get_id() for e in by_parcel[n]] == \
            [f"{e.originator_id}:{e.originator_version}" for e in stored[n]]
    registered = by_parcel[1][0]
    assert registered.get_type() == "com.parcelflow.parcel.registered.v1"
    assert registered.get_source() == "/parcelflow/parcels"
    assert registered.get_data()["manifest"]["merchant_id"] == "shop-123"
    scan = by_parcel[1][1]
    assert scan.get_type() == "com.parcelflow.parcel.scan_recorded.v1"
    assert scan.get_time() == stored[1][1].occurred_at
    assert scan.get_data()["facility"] == "SZX-OUT-07"
    raw = b"".join(r.value for r in records).decode()
    for personal in ("李华", "13987654321", "li.hua@example.com", "王小明", "世纪大道",
                     "sealed", "fingerprint", "cs-7", "called"):
        assert personal not in raw, personal


@pytest.mark.postgres
def test_a_second_relay_waits_for_the_first_then_carries_on_from_its_position(
        kafka_broker, make_service, postgres_url):
    from parcelflow.application.service import utcnow

    settings = kafka_test_settings(postgres_url, kafka_broker.bootstrap)
    svc = make_service(postgres_url, clock=utcnow)
    svc.register([manifest(1)])
    first = build_relay(make_service(postgres_url, clock=utcnow), settings)
    second = build_relay(make_service(postgres_url, clock=utcnow), settings)
    stop_first, stop_second = threading.Event(), threading.Event()
    t1 = threading.Thread(target=first.run, args=(stop_first,), daemon=True)
    t1.start()
    deadline = time.monotonic() + 15
    while first.position < svc.recorder.max_notification_id():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t2 = threading.Thread(target=second.run, args=(stop_second,), daemon=True)
    t2.start()
    svc.ingest(journey(1, t0=recent_start())[:3])
    time.sleep(1.0)
    assert second.published == 0, "the second relay published while the first held the lock"
    assert first.published == 4

    stop_first.set()
    t1.join(10)
    first.close()
    svc.ingest(journey(1, t0=recent_start())[3:5])
    head = svc.recorder.max_notification_id()
    deadline = time.monotonic() + 15
    while second.position < head:
        assert time.monotonic() < deadline, "the second relay did not take over"
        time.sleep(0.05)
    stop_second.set()
    t2.join(10)
    second.close()
    assert second.published == 2  # only what came after the first relay's saved position
    records = read_topic(kafka_broker.bootstrap, settings.kafka_events_topic, 6)
    assert len(records) == 6


@pytest.mark.postgres
def test_the_lag_gauge_reads_zero_as_soon_as_the_relay_has_caught_up(
        kafka_broker, make_service, postgres_url):
    from parcelflow.application.service import utcnow
    from parcelflow.metrics import REGISTRY

    def lag() -> float | None:
        return REGISTRY.get_sample_value("parcelflow_relay_lag_events")

    # Small batches: a backlog takes several batches, each well within a second of the last.
    settings = kafka_test_settings(postgres_url, kafka_broker.bootstrap, relay_batch_size=3)
    svc = make_service(postgres_url, clock=utcnow)
    svc.register([manifest(n) for n in (1, 2)])
    svc.ingest(journey(1, t0=recent_start()) + journey(2, t0=recent_start()))
    relay = build_relay(make_service(postgres_url, clock=utcnow), settings)
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    try:
        for more in (None, journey(3, t0=recent_start())):
            if more is not None:
                svc.register([manifest(3)])
                svc.ingest(more)
            head = svc.recorder.max_notification_id()
            deadline = time.monotonic() + 30
            while relay.position < head:
                assert time.monotonic() < deadline, "the relay did not catch up"
                time.sleep(0.02)
            caught_up = time.monotonic()
            while lag() != 0.0:  # the relay is idle now: nothing else will report for it
                assert time.monotonic() - caught_up < 2.0, f"lag still {lag()} after catching up"
                time.sleep(0.02)
    finally:
        stop.set()
        worker.join(10)
        relay.close()
    stored = svc.recorder.select_notifications(start=1, limit=10_000)
    assert relay.published == len(stored)  # every event once: nothing republished on the way
