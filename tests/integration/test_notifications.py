"""Notification workers following the store (the embedded default, no Kafka), on SQLite
and PostgreSQL: who is told what, in which language, over which channel, exactly once;
webhooks a merchant can verify; failed sends retried, then given up on with a reason."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from parcelflow.consumers.notifications.worker import StoreNotifyWorker, build_notify_worker
from standardwebhooks import Webhook

from parcelflow.adapters.sms import RecordingSmsProvider
from parcelflow.settings import Settings, WebhookEndpoint
from tests.support.builders import on_time, recent_start, scan, tracking
from tests.support.cycles import left_in_cycles
from tests.support.mail import MailSink, subject
from tests.support.webhook_peer import WebhookPeer

ZH, EN = "li.hua@example.com", "amy.chen@example.com"


@pytest.fixture
def mail():
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def merchant():
    peer = WebhookPeer().start()
    yield peer
    peer.stop()


def worker_for(make_service, database_url, mail, merchant, **overrides) -> tuple:
    from parcelflow.application.service import utcnow

    settings = Settings(_env_file=None, database_url=database_url, smtp_url=mail.url,
                        merchant_webhooks={"shop-123": WebhookEndpoint(
                            url=merchant.url, secret=merchant.secret)},
                        notify_retry_seconds=0.01, notify_max_attempts=3,
                        **overrides)  # type: ignore[call-arg]
    sms = RecordingSmsProvider()
    worker = build_notify_worker(make_service(database_url, clock=utcnow), settings, sms=sms)
    assert isinstance(worker, StoreNotifyWorker)
    return worker, sms


def english_receiver() -> dict:
    return {"name": "Amy Chen", "phone": "13700001111", "address": "上海市浦东新区世纪大道1号",
            "email": EN, "language": "en"}


def stories(t0) -> list[dict]:
    """Parcel 1 (Chinese): a failed attempt, then delivered at the door.
    Parcel 2 (English): weather delay at the Shanghai hub, then a pickup point."""
    return [
        scan("pickup", "SZX-OUT-07", 0, 1, t0=t0),
        scan("arrival", "SZX-HUB-01", 2, 1, t0=t0),
        scan("arrival", "SHA-STA-13", 23, 1, t0=t0),
        scan("out_for_delivery", "SHA-STA-13", 24, 1, t0=t0),
        scan("delivery_attempt", "SHA-STA-13", 25, 1, t0=t0, attempt_reason="recipient_absent"),
        scan("out_for_delivery", "SHA-STA-13", 40, 1, t0=t0),
        scan("delivered", "SHA-STA-13", 41, 1, t0=t0, signed_by="recipient"),
        scan("pickup", "SZX-OUT-07", 0, 2, t0=t0),
        scan("departure", "SZX-HUB-01", 3, 2, t0=t0, next_facility="SHA-HUB-02"),
        scan("arrival", "SHA-HUB-02", 20, 2, t0=t0),
        scan("exception", "SHA-HUB-02", 21, 2, t0=t0, exception_code="weather",
             note="暴雨 heavy rain"),
        scan("arrival", "SHA-PP-01", 30, 2, t0=t0),
        scan("held_at_pickup_point", "SHA-PP-01", 30.5, 2, t0=t0),
    ]


def test_receivers_and_merchants_are_told_once_in_their_language(
        make_service, database_url, mail, merchant):
    from parcelflow.application.service import utcnow

    svc = make_service(database_url, clock=utcnow)
    svc.register([on_time(1), on_time(2, receiver=english_receiver()),
                  on_time(3, merchant_id=None)])
    for one in stories(recent_start()):  # as they come in from the network, one by one
        svc.ingest([one])
    svc.ingest([scan("pickup", "SZX-OUT-07", 1, 3, t0=recent_start())])
    worker, sms = worker_for(make_service, database_url, mail, merchant)
    worker.run(threading.Event(), follow=False)

    zh = [m for m in mail.messages if m["To"] == ZH and tracking(1) in subject(m)]
    assert [subject(m) for m in zh] == [
        f"您的包裹 {tracking(1)} 已揽收",
        f"您的包裹 {tracking(1)} 正在派送",
        f"您的包裹 {tracking(1)} 派送未成功",
        f"您的包裹 {tracking(1)} 正在派送",
        f"您的包裹 {tracking(1)} 已签收",
    ]
    failed = zh[2].get_content()
    assert "李华，您好" in failed and "收件人不在" in failed and "第1次" in failed
    assert "下一个派送班次" in failed and "包裹目前在上海第1营业部" in failed
    assert zh[0]["Content-Language"] == "zh-CN"

    en = {subject(m): m.get_content() for m in mail.messages if m["To"] == EN}
    weather = en[f"A problem with your parcel {tracking(2)}: bad weather has delayed it"]
    assert "Hello Amy Chen" in weather and "heavy rain" in weather
    assert "It is now at Shanghai Hub." in weather
    assert "It should now arrive by" in weather
    pickup = next(body for subject, body in en.items() if "ready for pickup" in subject)
    code = pickup.split("pickup code ")[1][:6]
    assert code.isdigit() and "Shanghai Pickup Point 1" in pickup
    assert len(en) == 3  # picked up, weather, pickup point

    # Parcel 3 (same receiver as parcel 1, no merchant): its pickup email, no webhook.
    assert [m["To"] for m in mail.messages if tracking(3) in subject(m)] == [ZH]

    texts = Counter(s.phone for s in sms.sent)
    assert texts == {"13987654321": 4 + 1, "13700001111": 3}  # no text for "delivered" (rules)

    hook = Webhook(merchant.secret)
    requests = merchant.wait_for(1)
    payloads = [hook.verify(r.body, r.headers) for r in requests]  # raises if forged
    assert {p["data"]["tracking_no"] for p in payloads} == {tracking(1), tracking(2)}
    statuses = [p["data"]["status"] for p in payloads if p["data"]["tracking_no"] == tracking(1)]
    assert statuses == ["picked_up", "at_facility", "out_for_delivery", "delivery_failed",
                        "out_for_delivery", "delivered"]
    assert all(p["type"] == "parcel.status_changed" for p in payloads)
    assert len({r.headers["webhook-id"] for r in requests}) == len(requests)
    assert not any(merchant.secret.removeprefix("whsec_") in str(r.headers) for r in requests)
    body = b"".join(r.body for r in requests).decode()
    assert "李华" not in body and "13987654321" not in body and ZH not in body

    # Read everything again from the start: the ledger says it was all done.
    sent = (len(mail.messages), len(merchant.requests), len(sms.sent))
    with worker.notifier.ledger.transaction() as c:
        c.execute("DELETE FROM follower_positions")
    worker.run(threading.Event(), follow=False)
    assert (len(mail.messages), len(merchant.requests), len(sms.sent)) == sent
    worker.close()


def test_a_failing_webhook_is_retried_then_given_up_on_with_its_reason(
        make_service, database_url, mail, merchant):
    from parcelflow.application.service import utcnow

    svc = make_service(database_url, clock=utcnow)
    svc.register([on_time(1)])
    t0 = recent_start()
    svc.ingest([scan("pickup", "SZX-OUT-07", 0, 1, t0=t0)])
    worker, _ = worker_for(make_service, database_url, mail, merchant)
    merchant.fail_next(2, status=503)  # twice unavailable, then fine: the third try lands
    worker.run(threading.Event(), follow=False)
    assert len(merchant.requests) == 1

    merchant.fail_next(1, status=410)  # gone: permanent, no retry
    svc.ingest([scan("arrival", "SZX-HUB-01", 2, 1, t0=t0)])
    svc.ingest([scan("departure", "SZX-HUB-01", 3, 1, t0=t0, next_facility="SHA-HUB-02")])
    worker.run(threading.Event(), follow=False)
    ledger = worker.notifier.ledger
    assert ledger.count(channel="webhook", outcome="failed") == 1
    assert ledger.count(channel="webhook", outcome="sent") == 2  # the partition kept moving
    [row] = ledger.query("SELECT reason FROM notification_ledger WHERE outcome = 'failed'")
    assert row["reason"] == "webhook endpoint answered 410"
    assert len(mail.messages) == 1  # the pickup email, once
    worker.close()


def test_sending_leaves_nothing_in_reference_cycles_message_by_message(
        make_service, database_url, mail, merchant):
    # Each message's retry policy was a cycle of tenacity's objects, ~14 a message, freed
    # only by the collector's passes (pausing the worker). A run leaves the same in
    # cycles (its own loop's policy) whether it sends 3 messages, or 13 in 15 attempts.
    from parcelflow.application.service import utcnow

    svc = make_service(database_url, clock=utcnow)
    svc.register([on_time(n) for n in range(1, 6)])
    worker, sms = worker_for(make_service, database_url, mail, merchant)
    worker.run(threading.Event(), follow=False)  # connections, templates: made once

    def run_after(scans: list[dict]) -> Counter[str]:
        svc.ingest(scans)
        return left_in_cycles(lambda: worker.run(threading.Event(), follow=False),
                              modules=("parcelflow", "tenacity"))

    t0 = recent_start()
    few = run_after([scan("pickup", "SZX-OUT-07", 0, 1, t0=t0)])
    merchant.fail_next(2, status=503)  # and two retries
    many = run_after([scan("pickup", "SZX-OUT-07", 0, n, t0=t0) for n in range(2, 6)]
                     + [scan("arrival", "SZX-HUB-01", 2, 1, t0=t0)])
    # Five pickups told by email, SMS and webhook, and parcel 1's arrival by webhook; two
    # webhook attempts of the second run were answered 503, and tried again.
    assert (len(mail.messages), len(sms.sent), len(merchant.requests)) == (5, 5, 6)
    assert merchant.attempts == 6 + 2
    assert many == few
    worker.close()


def test_workers_on_separate_channels_each_send_their_own_and_keep_their_own_place(
        make_service, database_url, mail, merchant):
    from parcelflow.application.service import utcnow

    svc = make_service(database_url, clock=utcnow)
    svc.register([on_time(1)])
    svc.ingest([scan("pickup", "SZX-OUT-07", 0, 1, t0=recent_start())])
    email, _ = worker_for(make_service, database_url, mail, merchant, notify_channels=["email"])
    hooks, _ = worker_for(make_service, database_url, mail, merchant, notify_channels=["webhook"])
    assert (email.name, hooks.name) == ("notify-email", "notify-webhook")
    email.run(threading.Event(), follow=False)
    assert (len(mail.messages), len(merchant.requests)) == (1, 0)
    hooks.run(threading.Event(), follow=False)  # from its own position: the start
    assert (len(mail.messages), len(merchant.requests)) == (1, 1)
    for worker in (email, hooks):
        worker.close()


def test_while_the_mail_server_is_away_nothing_is_given_up_and_nothing_sent_twice(
        make_service, database_url, merchant):
    """Our own SMTP server down for a while (a restart): the worker keeps its place and
    tries again, instead of giving up on every email meanwhile. What that batch did
    settle is not done again on the retry: a webhook that went out, and one given up
    on (the merchant's endpoint answered 410, gone)."""
    import time

    from parcelflow.application.service import utcnow
    from tests.support.workers import wait_until

    svc = make_service(database_url, clock=utcnow)
    svc.register([on_time(1), on_time(2)])
    t0 = recent_start()
    away = MailSink()  # its port, with nothing listening yet
    worker, _ = worker_for(make_service, database_url, away, merchant)
    merchant.fail_next(1, status=410)  # one of the two webhooks: gone, given up on
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    ledger = worker.notifier.ledger
    try:
        svc.ingest([scan("pickup", "SZX-OUT-07", 0, n, t0=t0) for n in (1, 2)])
        wait_until(lambda: ledger.count(channel="webhook") == 2, what="both webhooks settled")
        time.sleep(1.0)  # the batch is tried again a few times meanwhile
        assert ledger.count(channel="email") == 0  # neither sent nor given up on
        away.start()  # the mail server is back
        away.wait_for(2)
        wait_until(lambda: ledger.count(channel="email", outcome="sent") == 2,
                   what="the ledger")
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(15)
        worker.close()
        away.stop()
    assert sorted(subject(m) for m in away.messages) == [
        f"您的包裹 {tracking(n)} 已揽收" for n in (1, 2)]
    assert len(merchant.requests) == 1  # the one that went out, once; the other never
    assert (ledger.count(channel="webhook", outcome="sent"),
            ledger.count(channel="webhook", outcome="failed")) == (1, 1)
    assert ledger.count(channel="email", outcome="failed") == 0
