"""The notification worker on the real broker: what cannot be read or delivered goes to the
notifications dead-letter topic with its reason, and the partition keeps moving."""

from __future__ import annotations

import threading

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from parcelflow.consumers.kafka_batches import REASON_HEADER, SOURCE_HEADER
from parcelflow.consumers.notifications.worker import KafkaNotifyWorker, build_notify_worker
from parcelflow.consumers.relay import build_relay

from parcelflow.adapters.sms import RecordingSmsProvider
from parcelflow.settings import WebhookEndpoint
from tests.support.builders import journey, on_time, recent_start, tracking
from tests.support.kafka_broker import PRODUCER_CONFIG
from tests.support.kafka_settings import kafka_test_settings
from tests.support.mail import MailSink
from tests.support.topics import read_topic
from tests.support.webhook_peer import WebhookPeer
from tests.support.workers import wait_until


def relayed(kafka_broker, make_service, postgres_url, merchant: WebhookPeer, scans: int,
            **overrides):  # type: ignore[no-untyped-def]
    """Settings for a notify worker on the broker (the merchant's webhooks at `merchant`),
    after parcel 1's first `scans` scans were stored and relayed to the events topic.
    The relay, to read how many events it published."""
    from parcelflow.application.service import utcnow

    settings = kafka_test_settings(
        postgres_url, kafka_broker.bootstrap,
        merchant_webhooks={"shop-123": WebhookEndpoint(url=merchant.url,
                                                       secret=merchant.secret)}, **overrides)
    kafka_broker.create_topics([settings.kafka_events_topic,
                                settings.kafka_notifications_dlq_topic])
    svc = make_service(postgres_url, clock=utcnow)
    svc.register([on_time(1)])
    svc.ingest(journey(1, t0=recent_start())[:scans])
    relay = build_relay(make_service(postgres_url, clock=utcnow), settings)
    relay.run(threading.Event(), follow=False)
    relay.close()
    return settings, relay


@pytest.mark.postgres
def test_unreadable_events_and_given_up_sends_are_dead_lettered_and_the_rest_goes_out(
        kafka_broker, make_service, postgres_url):
    from parcelflow.application.service import utcnow

    mail, merchant = MailSink().start(), WebhookPeer().start()
    # picked up, at the hub, departed
    settings, relay = relayed(kafka_broker, make_service, postgres_url, merchant, 3,
                              smtp_url=mail.url)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, **PRODUCER_CONFIG)
    producer.send(settings.kafka_events_topic, key=tracking(1).encode(), value=b"{not json")
    producer.flush()
    producer.close()
    on_topic = relay.published + 1

    merchant.fail_next(1, status=410)  # the first webhook: gone, permanently
    worker = build_notify_worker(make_service(postgres_url, clock=utcnow), settings,
                                 sms=RecordingSmsProvider())
    assert isinstance(worker, KafkaNotifyWorker)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    offsets = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap,
                            group_id=settings.kafka_notify_group, enable_auto_commit=False)
    parts = [TopicPartition(settings.kafka_events_topic, p) for p in range(4)]
    try:
        wait_until(lambda: sum(offsets.committed(tp) or 0 for tp in parts) >= on_topic,
                   what="every event on the topic committed")
        dead = read_topic(kafka_broker.bootstrap, settings.kafka_notifications_dlq_topic, 2)
    finally:
        offsets.close()
        stop.set()
        thread.join(15)
        worker.close()
        mail.stop()
        merchant.stop()

    assert not thread.is_alive()
    headers = [dict(r.headers) for r in dead]
    [poison] = [h for h in headers if b"not a parcelflow CloudEvent" in h[REASON_HEADER]]
    assert poison[SOURCE_HEADER].startswith(settings.kafka_events_topic.encode())
    [failed] = [h for h in headers if h.get("parcelflow-channel") == b"webhook"]
    assert failed[REASON_HEADER] == b"webhook endpoint answered 410"
    assert failed["parcelflow-recipient"] == b"merchant:shop-123"
    assert len(dead) == 2
    # The partition kept moving: the later status changes reached the merchant, the
    # pickup reached the receiver, and the ledger says so.
    assert len(merchant.requests) == 2
    assert len(mail.messages) == 1
    ledger = worker.notifier.ledger
    assert ledger.count(channel="webhook", outcome="failed") == 1
    assert ledger.count(channel="webhook", outcome="sent") == 2


@pytest.mark.postgres
def test_a_dead_letter_the_broker_did_not_take_is_not_lost(kafka_broker, make_service,
                                                           postgres_url):
    """The dead-letter topic refuses the first try: the batch is done again, and the
    given-up notification reaches the topic then (it was not marked done before)."""
    from kafka.errors import KafkaTimeoutError

    from parcelflow.application.service import utcnow

    merchant = WebhookPeer().start()
    settings, _ = relayed(kafka_broker, make_service, postgres_url, merchant, 1)  # picked up

    merchant.fail_next(2, status=410)  # gone, both times it is tried
    worker = build_notify_worker(make_service(postgres_url, clock=utcnow), settings)
    assert isinstance(worker, KafkaNotifyWorker)
    publish, refusals = worker.batches._dead_letter, [1]

    def flaky_broker(dead):  # type: ignore[no-untyped-def]
        if refusals:
            refusals.pop()
            raise KafkaTimeoutError("the dead-letter topic did not answer")
        publish(dead)

    worker.batches._dead_letter = flaky_broker  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        [dead] = read_topic(kafka_broker.bootstrap, settings.kafka_notifications_dlq_topic, 1)
    finally:
        stop.set()
        thread.join(15)
        worker.close()
        merchant.stop()
    assert not refusals  # the first publish was refused
    assert dict(dead.headers)[REASON_HEADER] == b"webhook endpoint answered 410"
    assert worker.notifier.ledger.count(channel="webhook", outcome="failed") == 1
