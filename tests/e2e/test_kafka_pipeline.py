"""The whole pipeline on the real broker and PostgreSQL: scans produced to the scans topic
come out as events in the store, rows in the tracking view, CloudEvents on the
parcel-events topic, emails at an SMTP server and signed webhooks at a merchant's
HTTP endpoint."""

from __future__ import annotations


import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured_event
from parcelflow.projections.registry import open_view
from standardwebhooks import Webhook

from parcelflow.settings import WebhookEndpoint
from tests.support.builders import journey, on_time, recent_start, tracking
from tests.support.kafka_settings import kafka_test_settings
from tests.support.mail import MailSink, subject
from tests.support.topics import produce, read_topic
from tests.support.webhook_peer import WebhookPeer
from tests.support.workers import Pipeline, wait_until

PARCELS = 12

pytestmark = pytest.mark.postgres


def test_scans_on_kafka_become_events_views_cloudevents_emails_and_webhooks(
        kafka_broker, make_service, postgres_url):
    from parcelflow.application.service import utcnow

    mail, merchant = MailSink().start(), WebhookPeer().start()
    settings = kafka_test_settings(
        postgres_url, kafka_broker.bootstrap, smtp_url=mail.url,
        merchant_webhooks={"shop-123": WebhookEndpoint(url=merchant.url,
                                                       secret=merchant.secret)})
    svc = make_service(postgres_url, clock=utcnow)
    svc.register([on_time(n) for n in range(1, PARCELS + 1)])
    pipeline = Pipeline(settings).start()
    try:
        t0 = recent_start()
        journeys = {n: journey(n, t0=t0) for n in range(1, PARCELS + 1)}
        # the network's day: every parcel's next scan, in turn
        produce(kafka_broker.bootstrap, settings.kafka_scans_topic,
                [scans[step] for step in range(11) for scans in journeys.values()])

        # 3 emails per parcel: picked up, out for delivery, delivered
        mail.wait_for(3 * PARCELS, timeout=60)
        view = open_view(svc, "tracking")
        wait_until(lambda: all((view.get(tracking(n)) or {}).get("status") == "delivered"
                               for n in journeys), what="the tracking view")
        stored = sum(len(svc.stored_events(tracking(n))) for n in journeys)
        cloudevents = read_topic(kafka_broker.bootstrap, settings.kafka_events_topic, stored)
        wait_until(lambda: len({r.headers["webhook-id"] for r in merchant.requests})
                   >= 9 * PARCELS, what="webhooks")
        assert all(pipeline.alive().values()), pipeline.alive()
    finally:
        pipeline.close()
        mail.stop()
        merchant.stop()

    for n in journeys:
        parcel = svc.get(tracking(n))
        assert parcel.state.status == "delivered" and len(parcel.scan_versions) == 11
    assert view.count() == PARCELS

    events = [from_structured_event(KafkaMessage(dict(r.headers), r.key, r.value))
              for r in cloudevents]
    assert {e.get_id() for e in events} == {
        f"{e.originator_id}:{e.originator_version}"
        for n in journeys for e in svc.stored_events(tracking(n))}

    for n in journeys:
        subjects = [subject(m) for m in mail.messages if tracking(n) in subject(m)]
        assert subjects == [f"您的包裹 {tracking(n)} 已揽收", f"您的包裹 {tracking(n)} 正在派送",
                            f"您的包裹 {tracking(n)} 已签收"]

    hook = Webhook(merchant.secret)
    payloads = [hook.verify(r.body, r.headers) for r in merchant.requests]
    assert len(payloads) == len({r.headers["webhook-id"] for r in merchant.requests})
    for n in journeys:
        statuses = [p["data"]["status"] for p in payloads if p["data"]["tracking_no"] == tracking(n)]
        assert statuses == ["picked_up", "in_transit", "at_facility", "in_transit",
                            "at_facility", "in_transit", "at_facility", "out_for_delivery",
                            "delivered"]
