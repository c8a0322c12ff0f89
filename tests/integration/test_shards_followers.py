"""What reads every shard's log besides the read models, on two real PostgreSQL servers:
a rebuild with several processes, the store-following notification worker, and an
EPCIS export of a period."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta

import psycopg

from parcelflow.application.service import utcnow
from parcelflow.settings import Settings
from tests.integration.test_shards import PARCELS, make_network  # noqa: F401 — the fixture
from tests.support.builders import journey, manifest, on_time, recent_start, tracking
from tests.support.epcis import schema_errors
from tests.support.mail import MailSink, subject


def test_a_rebuild_with_two_processes_on_two_shards_equals_a_serial_one(
        two_shards, make_network, clock):
    from parcelflow.projections import parallel
    from parcelflow.projections.registry import runners as build
    from tests.integration.test_projections import busy_history
    from tests.support.views import dump

    network = make_network(two_shards)
    busy_history(network, clock)  # parcels 1-4: corrections, erasure, casework
    network.register([manifest(n) for n in PARCELS[4:30]])
    network.ingest([s for n in PARCELS[4:30] for s in journey(n)[:6]])
    runners = {r.name: r for r in build(network)}
    try:
        for r in runners.values():
            r.rebuild()
        serial = dump(runners)
        heads = [s.recorder.max_notification_id() for s in network.shards]
        in_logs = sum(len(s.recorder.select_notifications(start=None, limit=100_000))
                      for s in network.shards)
        for r in runners.values():
            events, _ = parallel.rebuild(r, two_shards, workers=2)
            assert events == in_logs  # every event of both shards, replayed once
            assert r.positions == heads  # one position per shard
        assert dump(runners) == serial
        assert {network.router.index_of(row["tracking_no"])
                for row in serial["tracking"]} == {0, 1}
    finally:
        for r in runners.values():
            r.close()


def test_notify_without_kafka_follows_every_shard_with_a_position_on_each(
        two_shards, make_network):
    from parcelflow.consumers.notifications.worker import (
        ShardedStoreNotifyWorker,
        build_notify_worker,
    )

    mail = MailSink().start()
    network = make_network(two_shards, clock=utcnow)
    numbers = [tracking(n) for n in PARCELS[:12]]
    assert {network.router.index_of(no) for no in numbers} == {0, 1}
    network.register([on_time(n, merchant_id=None) for n in PARCELS[:12]])
    t0 = recent_start()
    network.ingest([journey(n, t0=t0)[0] for n in PARCELS[:12]])  # picked up
    settings = Settings(_env_file=None, shards=json.dumps(two_shards), smtp_url=mail.url,
                        notify_channels=["email"])  # type: ignore[call-arg]
    worker = build_notify_worker(network, settings)
    assert isinstance(worker, ShardedStoreNotifyWorker)
    try:
        worker.run(threading.Event(), follow=False)
        picked_up = sorted(subject(m) for m in mail.messages)
        assert picked_up == sorted(f"您的包裹 {no} 已揽收" for no in numbers)
        heads = [s.recorder.max_notification_id() for s in network.shards]
        assert worker.positions == heads
        with psycopg.connect(two_shards[0]) as conn:  # both beside the ledger, shard 1
            saved = dict(conn.execute("SELECT name, position FROM follower_positions"))
        from parcelflow.adapters.shard_map import shard_name

        # The first shard's position keeps the worker's name (one store: the same row).
        assert saved == {"notify-email": heads[0],
                         f"notify-email@{shard_name(two_shards[1])}": heads[1]}

        network.ingest([journey(n, t0=t0)[1] for n in PARCELS[:12]])  # no email for this
        network.ingest([s for n in PARCELS[:12] for s in journey(n, t0=t0)[2:]])
        stop = threading.Event()
        following = threading.Thread(target=worker.run, args=(stop,))
        following.start()
        try:
            mail.wait_for(12 * 3)  # picked up, out for delivery, delivered
        finally:
            stop.set()
            following.join(10)
        assert not following.is_alive()
        told = [subject(m) for m in mail.messages]
        assert len(told) == len(set(told)) == 12 * 3  # each once
        assert worker.positions == [s.recorder.max_notification_id() for s in network.shards]
    finally:
        worker.close()
        mail.stop()


def test_an_epcis_export_of_a_period_covers_every_shard(two_shards, make_network, clock):
    network = make_network(two_shards)
    network.register([manifest(n) for n in PARCELS[:12]])
    network.ingest([s for n in PARCELS[:12] for s in journey(n)[:3]])
    start = clock.now
    clock.advance(days=1)
    network.ingest([journey(n)[3] for n in PARCELS[:6]])  # recorded the next day
    env = {**os.environ, "PARCELFLOW_SHARDS": json.dumps(two_shards)}
    env.pop("PARCELFLOW_DATABASE_URL", None)
    day = [(start - timedelta(hours=1)).isoformat(), (start + timedelta(hours=1)).isoformat()]
    done = subprocess.run([sys.executable, "-m", "parcelflow", "export", "epcis",
                           "--from", day[0], "--to", day[1]],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert schema_errors(document) == []
    events = document["epcisBody"]["eventList"]
    assert len(events) == 12 * 3  # the first day's scans of every parcel, of both shards
    parcels = {e["epcList"][0] for e in events}
    assert len(parcels) == 12
    assert {network.router.index_of(tracking(n)) for n in PARCELS[:12]} == {0, 1}

