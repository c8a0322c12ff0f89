"""Faults on the real broker and PostgreSQL, with real processes killed by SIGKILL.

- The relay killed after publishing a batch but before saving its position publishes it
  again when restarted: duplicates on the topic, yet each customer gets one email.
- An ingest worker killed after saving a batch but before committing its offsets: the
  batch is read again; no scan is lost and none is counted twice.
- The broker stopped mid-stream (and, being memory-only, back without its topics): the
  relay and the workers neither crash nor skip; the relay republishes everything after
  its saved position, and the store has every scan the broker had acknowledged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from parcelflow.adapters.positions import PositionStore
from parcelflow.settings import WebhookEndpoint
from tests.support.builders import journey, on_time, recent_start, tracking
from tests.support.kafka_broker import KafkaBroker
from tests.support.kafka_settings import kafka_test_settings, settings_env
from tests.support.mail import MailSink, subject
from tests.support.topics import produce, read_topic
from tests.support.webhook_peer import WebhookPeer
from tests.support.workers import Pipeline, wait_until

pytestmark = pytest.mark.postgres


def parcelflow(args: list[str], settings, cwd: Path, failpoints: str = "") -> subprocess.Popen:
    env = {**os.environ, **settings_env(settings), "PARCELFLOW_LOG_FORMAT": "json",
           "PARCELFLOW_FAILPOINTS": failpoints}
    return subprocess.Popen([sys.executable, "-m", "parcelflow", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_relay_killed_between_publishing_and_saving_its_position(
        kafka_broker, make_service, postgres_url, tmp_path):
    from parcelflow.application.service import utcnow

    mail, merchant = MailSink().start(), WebhookPeer().start()
    settings = kafka_test_settings(
        postgres_url, kafka_broker.bootstrap, smtp_url=mail.url,
        merchant_webhooks={"shop-123": WebhookEndpoint(url=merchant.url,
                                                       secret=merchant.secret)})
    svc = make_service(postgres_url, clock=utcnow)
    svc.register([on_time(n) for n in range(1, 6)])
    svc.ingest([journey(n, t0=recent_start())[0] for n in range(1, 6)])  # 5 pickups
    head = svc.recorder.max_notification_id()
    positions = PositionStore(svc.factory.datastore)

    crashed = parcelflow(["relay"], settings, tmp_path, failpoints="relay.after_publish")
    assert crashed.wait(timeout=60) == -9, crashed.stderr.read().decode()[-2000:]
    assert positions.get("relay") == 0  # published, but the position was never saved
    first = read_topic(kafka_broker.bootstrap, settings.kafka_events_topic, 10)
    assert len(first) == 10  # 5 registrations + 5 pickup scans

    again = parcelflow(["relay", "--once"], settings, tmp_path)
    assert again.wait(timeout=60) == 0, again.stderr.read().decode()[-2000:]
    assert positions.get("relay") == head
    records = read_topic(kafka_broker.bootstrap, settings.kafka_events_topic, 20)
    ids = Counter(json.loads(r.value)["id"] for r in records)
    assert len(ids) == 10 and set(ids.values()) == {2}  # every event twice on the topic

    pipeline = Pipeline(settings).start("notify")
    try:
        mail.wait_for(5)
        merchant.wait_for(5)
        wait_until(lambda: pipeline.parts["notify"].notifier.ledger.count() == 15,
                   what="the ledger")
        wait_until(lambda: sum(c or 0 for c in committed(pipeline)) == 20,
                   what="all 20 messages committed")
    finally:
        pipeline.close()
        mail.stop()
        merchant.stop()
    assert sorted(subject(m) for m in mail.messages) == sorted(
        f"您的包裹 {tracking(n)} 已揽收" for n in range(1, 6))  # one each, not two
    assert len(merchant.requests) == 5
    assert len(pipeline.sms.sent) == 5


def committed(pipeline: Pipeline) -> list:
    from kafka.structs import TopicPartition

    consumer = pipeline.parts["notify"].batches.consumer
    topic = pipeline.settings.kafka_events_topic
    return [consumer.committed(TopicPartition(topic, p)) for p in range(4)]


def test_ingest_worker_killed_mid_batch_loses_no_scan_and_counts_none_twice(
        kafka_broker, make_service, postgres_url, tmp_path):
    from parcelflow.application.service import utcnow

    settings = kafka_test_settings(postgres_url, kafka_broker.bootstrap, max_batch=40)
    svc = make_service(postgres_url, clock=utcnow)
    parcels = range(1, 21)
    svc.register([on_time(n) for n in parcels])
    t0 = recent_start()
    scans = [journey(n, t0=t0)[step] for step in range(11) for n in parcels]
    kafka_broker.create_topics([settings.kafka_scans_topic, settings.kafka_scans_dlq_topic])
    produce(kafka_broker.bootstrap, settings.kafka_scans_topic, scans)

    # Dies after the second batch is saved, before its offsets are committed.
    crashed = parcelflow(["ingest-worker"], settings, tmp_path,
                         failpoints="ingest_worker.after_handle@2")
    assert crashed.wait(timeout=60) == -9, crashed.stderr.read().decode()[-2000:]
    saved = sum(len(svc.get(tracking(n)).scan_versions) for n in parcels)
    assert 0 < saved < len(scans), saved

    worker = parcelflow(["ingest-worker"], settings, tmp_path)
    try:
        wait_until(lambda: all(svc.get(tracking(n)).state.status == "delivered"
                               for n in parcels), timeout=60, what="every parcel delivered")
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0, worker.stderr.read().decode()[-2000:]
    recorded = Counter(e.scan_id for n in parcels for e in svc.stored_events(tracking(n))
                       if type(e).__name__ == "ScanRecorded")
    assert set(recorded) == {s["scan_id"] for s in scans}  # none lost
    assert set(recorded.values()) == {1}  # none recorded twice
    assert read_topic(kafka_broker.bootstrap, settings.kafka_scans_dlq_topic, 0,
                      timeout=1) == []


def test_broker_stopped_mid_stream_then_back_without_its_topics(
        make_service, postgres_url):
    from parcelflow.application.service import utcnow

    broker = KafkaBroker().start()  # its own: this test restarts it
    mail = MailSink().start()
    settings = kafka_test_settings(postgres_url, broker.bootstrap, smtp_url=mail.url)
    topics = [settings.kafka_scans_topic, settings.kafka_scans_dlq_topic,
              settings.kafka_events_topic, settings.kafka_notifications_dlq_topic]
    svc = make_service(postgres_url, clock=utcnow)
    parcels = range(1, 11)
    svc.register([on_time(n) for n in parcels])
    t0 = recent_start()
    journeys = {n: journey(n, t0=t0) for n in parcels}
    pipeline = Pipeline(settings).start("ingest", "relay", "notify")
    relay = pipeline.parts["relay"]
    try:
        # Before: pickups through the broker.
        produce(broker.bootstrap, settings.kafka_scans_topic, [j[0] for j in journeys.values()])
        mail.wait_for(10)  # one "picked up" email each
        wait_until(lambda: relay.position == svc.recorder.max_notification_id(), what="relay")

        # During: the broker is gone. Scans keep arriving by the HTTP API (straight into
        # the store); the relay cannot publish them, and must not skip them.
        broker.stop()
        saved = relay.position
        for step in range(1, 10):
            svc.ingest([j[step] for j in journeys.values()])
        wait_until(lambda: relay.position == saved and relay.follower.head() > saved,
                   what="the store to move on")
        import time

        time.sleep(3)  # the relay and workers retry against a dead broker meanwhile
        assert relay.position == saved
        assert all(pipeline.alive().values()), pipeline.alive()

        # After: back, empty (memory-only); the test recreates the topics.
        broker.start()
        broker.create_topics(topics)
        head = svc.recorder.max_notification_id()
        wait_until(lambda: relay.position == head, timeout=60, what="the relay to catch up")
        republished = read_topic(broker.bootstrap, settings.kafka_events_topic,
                                 len(svc.recorder.select_notifications(saved, 100_000,
                                                                       inclusive_of_start=False)))
        ids = {json.loads(r.value)["id"] for r in republished}
        expected = {f"{n.originator_id}:{n.originator_version}" for n in
                    svc.recorder.select_notifications(saved, 100_000, inclusive_of_start=False)}
        assert expected <= ids  # everything after the saved position, nothing skipped

        # And scans through the broker again: the last ones, delivered.
        produce(broker.bootstrap, settings.kafka_scans_topic, [j[10] for j in journeys.values()])
        wait_until(lambda: all(svc.get(tracking(n)).state.status == "delivered"
                               for n in parcels), timeout=60, what="deliveries")
        mail.wait_for(30, timeout=60)  # + out for delivery and delivered, once each
        assert all(pipeline.alive().values()), pipeline.alive()
    finally:
        pipeline.close()
        mail.stop()
        broker.stop()
    for n in parcels:
        assert len(svc.get(tracking(n)).scan_versions) == 11  # nothing acknowledged was lost
        assert sorted(subject(m) for m in mail.messages if tracking(n) in subject(m)) == sorted(
            [f"您的包裹 {tracking(n)} 已揽收", f"您的包裹 {tracking(n)} 正在派送",
             f"您的包裹 {tracking(n)} 已签收"])


def test_a_given_up_message_is_sent_once_though_its_dead_letter_was_not_taken(
        kafka_broker, make_service, postgres_url, tmp_path):
    """The worker dies after sending, before the dead letters are published; restarted,
    its first dead-letter publish is refused. Each message still goes out once."""
    from parcelflow.application.service import utcnow
    from parcelflow.consumers.notifications.ledger import NotificationLedger
    from parcelflow.consumers.relay import build_relay

    mail, merchant = MailSink().start(), WebhookPeer().start()
    settings = kafka_test_settings(
        postgres_url, kafka_broker.bootstrap, smtp_url=mail.url,
        merchant_webhooks={"shop-123": WebhookEndpoint(url=merchant.url,
                                                       secret=merchant.secret)})
    svc = make_service(postgres_url, clock=utcnow)
    parcels = range(1, 4)
    svc.register([on_time(n) for n in parcels])
    svc.ingest([journey(n, t0=recent_start())[0] for n in parcels])  # 3 pickups
    relay = build_relay(make_service(postgres_url, clock=utcnow), settings)
    relay.run(threading.Event(), follow=False)
    relay.close()
    merchant.fail_next(3, status=422)  # every pickup webhook refused for good: given up
    ledger = NotificationLedger(svc.factory.datastore)

    crashed = parcelflow(["notify"], settings, tmp_path, failpoints="notify.after_handle")
    try:
        assert crashed.wait(timeout=90) == -9, crashed.stderr.read().decode()[-2000:]
    finally:
        crashed.stderr.close()
    assert merchant.attempts == 3  # given up on, and not yet dead-lettered:
    assert read_topic(kafka_broker.bootstrap, settings.kafka_notifications_dlq_topic, 0,
                      timeout=1) == []

    again = parcelflow(["notify"], settings, tmp_path, failpoints="notify.dead_letter=raise")
    try:
        wait_until(lambda: ledger.count(channel="webhook") == 3 and ledger.count(
            outcome="dead_letter_pending") == 0, timeout=90, what="the webhooks settled")
        dead = read_topic(kafka_broker.bootstrap, settings.kafka_notifications_dlq_topic, 3)
    finally:
        again.terminate()
        _, err = again.communicate(timeout=30)
        mail.stop()
        merchant.stop()
    assert again.returncode == 0, err.decode()[-2000:]
    assert merchant.attempts == 3  # each given-up webhook tried once, never again
    assert b"FailpointError" in err  # the refused publish did happen, and was retried
    assert merchant.requests == []
    assert sorted(subject(m) for m in mail.messages) == sorted(
        f"您的包裹 {tracking(n)} 已揽收" for n in parcels)  # one email each, not two
    assert len(dead) == 3
    assert {dict(r.headers)["parcelflow-reason"] for r in dead} == {
        b"webhook endpoint answered 422"}
    assert ledger.count(channel="webhook", outcome="failed") == 3
    assert ledger.count(channel="email", outcome="sent") == 3
