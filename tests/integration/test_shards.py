"""The event store sharded over real PostgreSQL servers the tests start (on other ports):
each parcel's events, keys and answers on its own shard, exactly once; the shard map
kept in the first shard; the API on every shard's parcels."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from parcelflow.adapters.shard_map import ShardMapError, SqlShardMap
from parcelflow.application.sharding import ShardedParcelService
from parcelflow.bootstrap import build_service
from parcelflow.domain.buckets import BUCKETS, bucket_of, even_layout
from parcelflow.settings import Settings
from tests.support.api import make_api
from tests.support.builders import journey, manifest, tracking

PARCELS = range(1, 61)


@pytest.fixture
def make_network(clock) -> Iterator[Callable[..., ShardedParcelService]]:
    made: list[ShardedParcelService] = []

    def make(urls: list[str], **kwargs: object) -> ShardedParcelService:
        kwargs.setdefault("clock", clock)
        svc = build_service(settings_for(urls), **kwargs)  # type: ignore[arg-type]
        assert isinstance(svc, ShardedParcelService)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


def settings_for(urls: list[str], **overrides: object) -> Settings:
    return Settings(shards=json.dumps(urls), _env_file=None, **overrides)  # type: ignore[call-arg]


def stored_per_shard(urls: list[str], table: str) -> list[dict[str, int]]:
    """Each shard's events per tracking number, read with SQL of our own."""
    found = []
    for url in urls:
        with psycopg.connect(url) as conn:
            rows = conn.execute(f"SELECT originator_id, COUNT(*) FROM {table} "
                                "GROUP BY originator_id").fetchall()
        found.append({str(pid): n for pid, n in rows})
    return found


def map_rows(url: str) -> dict[int, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT bucket, shard FROM shard_buckets").fetchall())


def test_the_shard_map_is_made_once_in_the_first_shard_and_then_decides(make_service,
                                                                        database_url):
    datastore = make_service(database_url).factory.datastore
    a, b = "postgresql://ingest:secret@10.0.0.1:5432/parcels", "postgresql://10.0.0.2/parcels"
    assert SqlShardMap(datastore).layout([a, b]) == even_layout(2)
    # Listed the other way round later, every bucket stays where the table put it.
    assert SqlShardMap(datastore).layout([b, a]) == [1 - s for s in even_layout(2)]
    SqlShardMap(datastore).assign(0, b)
    assert SqlShardMap(datastore).layout([a, b])[:2] == [1, 0]
    with pytest.raises(ShardMapError, match="10.0.0.2"):
        SqlShardMap(datastore).layout([a, "postgresql://10.0.0.3/parcels"])
    stored = " ".join(r["shard"] for r in SqlShardMap(datastore).query(
        "SELECT shard FROM shard_buckets"))
    assert "secret" not in stored and "ingest" not in stored


@pytest.mark.parametrize("count", [2, 3])
def test_every_scan_is_stored_on_its_shard_exactly_once(count, two_shards, three_shards,
                                                        make_network):
    urls = (two_shards if count == 2 else three_shards)[:count]
    network = make_network(urls)
    assert network.register([manifest(n) for n in PARCELS]).accepted == len(PARCELS)
    scans = [s for n in PARCELS for s in journey(n)]
    batches = [scans[i:i + 97] for i in range(0, len(scans), 97)]
    # Two writers at once, each batch sent twice (a scanner's retries), one out of order.
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(network.ingest, batches + batches[::-1]))
    assert sum(r.accepted for r in reports) == len(scans)
    assert sum(r.duplicates for r in reports) == len(scans)

    table = network.shards[0].recorder.events_table_name
    per_shard = stored_per_shard(urls, table)
    rows = map_rows(urls[0])
    names = [n.split("@")[-1] for n in urls]
    assert len(rows) == BUCKETS
    for n in PARCELS:
        pid = str(network.get(tracking(n)).id)
        holding = [i for i, stored in enumerate(per_shard) if pid in stored]
        assert len(holding) == 1, (n, holding)
        assert rows[bucket_of(tracking(n))].endswith(names[holding[0]])
        assert per_shard[holding[0]][pid] == 1 + len(journey(n))  # registered + every scan
    assert all(stored for stored in per_shard)  # every shard holds parcels

    # A process started later, with the other shards listed in another order, finds
    # them all; one that lists another shard first is refused (it would make a new map).
    again = make_network(urls[:1] + urls[:0:-1])
    assert all(again.get(tracking(n)).state.status == "delivered" for n in PARCELS)
    with pytest.raises(ShardMapError, match="list it first"):
        make_network(urls[::-1])


def test_the_api_answers_for_parcels_on_every_shard(three_shards, make_network):
    network = make_network(three_shards)
    for api in make_api(network, three_shards[0], shards=json.dumps(three_shards)):
        r = api.client.post("/v1/parcels", json=[manifest(n) for n in PARCELS[:12]],
                            headers=api.auth("orders"))
        assert r.status_code == 200, r.text
        r = api.client.post("/v1/scans", json=[journey(n)[0] for n in PARCELS[:12]],
                            headers=api.auth("SZX-OUT-07"))
        assert r.status_code == 200 and r.json()["accepted"] == 12, r.text
        shards_used = {network.router.index_of(tracking(n)) for n in PARCELS[:12]}
        assert shards_used == {0, 1, 2}
        for n in PARCELS[:12]:
            r = api.client.get(f"/v1/parcels/{tracking(n)}/history",
                               headers=api.auth("auditor"))
            assert r.status_code == 200, r.text
            assert [e["type"] for e in r.json()["events"]][-1:] == ["scan_recorded"]
        assert api.client.get(f"/v1/parcels/{tracking(99)}/history",
                              headers=api.auth("auditor")).status_code == 404


def test_one_read_side_follows_every_shard_and_equals_a_rebuild(three_shards, make_network,
                                                                clock):
    from parcelflow.projections.registry import runners as build
    from tests.integration.test_projections import busy_history
    from tests.support.views import dump

    network = make_network(three_shards)
    runners = {r.name: r for r in build(network)}
    try:
        busy_history(network, clock)  # parcels 1-4: corrections, erasure, casework
        for r in runners.values():
            r.run()
        network.register([manifest(n) for n in PARCELS[4:]])
        for start in range(4, len(PARCELS), 14):  # projections run between the batches
            network.ingest([s for n in PARCELS[start:start + 14] for s in journey(n)[:7]])
            for r in runners.values():
                r.run()
        incremental = dump(runners)
        heads = [s.recorder.max_notification_id() for s in network.shards]
        assert all(r.positions == heads for r in runners.values())
        for r in runners.values():
            r.rebuild()
        assert dump(runners) == incremental
        assert all(r.positions == heads for r in runners.values())
        rows = {row["tracking_no"] for row in incremental["tracking"]}
        assert rows == {tracking(n) for n in PARCELS}
        assert {network.router.index_of(t) for t in rows} == {0, 1, 2}
        lag = runners["tracking"].lag()
        assert lag.behind == 0 and [s.head for s in lag.shards] == heads
        network.ingest([journey(n)[7] for n in PARCELS[4:]])  # now every shard is behind
        lag = runners["tracking"].lag()
        assert lag.behind == len(PARCELS) - 4 and all(s.behind for s in lag.shards)
    finally:
        for r in runners.values():
            r.close()


def test_the_public_lookup_answers_for_parcels_on_every_shard(three_shards, make_network):
    network = make_network(three_shards)
    for api in make_api(network, three_shards[0], shards=json.dumps(three_shards)):
        api.client.post("/v1/parcels", json=[manifest(n) for n in PARCELS[:12]],
                        headers=api.auth("orders"))
        api.client.post("/v1/scans", json=[journey(n)[0] for n in PARCELS[:12]],
                        headers=api.auth("SZX-OUT-07"))
        api.catch_up()
        for n in PARCELS[:12]:
            r = api.client.get(f"/v1/parcels/{tracking(n)}")
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "picked_up"
            r = api.client.get(f"/v1/parcels/{tracking(n)}", params={"phone_last4": "4321"})
            assert r.status_code == 200 and r.json()["timeline"], r.text
        assert api.client.get(f"/v1/parcels/{tracking(99)}").status_code == 404
        ready = api.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert [len(p["shards"]) for p in ready.json()["projections"]] == [3] * len(
            api.settings.api_ready_projections)


def test_kafka_ingest_workers_store_every_scan_on_its_shard_exactly_once(
        kafka_broker, three_shards, make_network):
    import threading
    import time

    from kafka import KafkaProducer

    from parcelflow.adapters.scan_partitions import bucket_partitioner
    from parcelflow.application.service import utcnow
    from parcelflow.consumers.ingest_worker import build_ingest_worker
    from tests.support.builders import recent_start
    from tests.support.kafka_broker import PRODUCER_CONFIG
    from tests.support.kafka_settings import kafka_test_settings

    settings = kafka_test_settings(three_shards[0], kafka_broker.bootstrap,
                                   shards=json.dumps(three_shards), kafka_partitions=6)
    kafka_broker.create_topics([settings.kafka_scans_topic, settings.kafka_scans_dlq_topic],
                               partitions=6)
    network = make_network(three_shards, clock=utcnow)
    network.register([manifest(n) for n in PARCELS])
    t0 = recent_start()
    scans = [s for n in PARCELS for s in journey(n, t0=t0)]
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap,
                             partitioner=bucket_partitioner, **PRODUCER_CONFIG)
    sent = [producer.send(settings.kafka_scans_topic, key=s["tracking_no"].encode(),
                          value=json.dumps(s).encode()) for s in scans]
    # Retries of a few scans, on a partition of another shard (a topic cut otherwise).
    strays = [s for s in scans[::37]]
    for s in strays:
        producer.send(settings.kafka_scans_topic, key=s["tracking_no"].encode(),
                      value=json.dumps(s).encode(), partition=0)
    producer.flush()
    partitions: dict[int, set[int]] = {}
    for s, future in zip(scans, sent, strict=True):
        partitions.setdefault(future.get().partition, set()).add(
            network.router.index_of(s["tracking_no"]))
    assert len(partitions) == 6 and all(len(on) == 1 for on in partitions.values())

    workers = [build_ingest_worker(make_network(three_shards, clock=utcnow, cache_size=10_000),
                                   settings) for _ in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    table = network.shards[0].recorder.events_table_name

    def scans_stored() -> int:
        return sum(len(network.get(tracking(n)).scan_versions) for n in PARCELS)

    try:
        deadline = time.monotonic() + 60
        while scans_stored() < len(scans):
            assert time.monotonic() < deadline, "scans did not reach the shards"
            time.sleep(0.5)
        time.sleep(1)  # anything extra (a stray stored twice) would land by now
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        for w in workers:
            w.close()
    assert scans_stored() == len(scans)  # each scan once, the strays changed nothing
    per_shard = stored_per_shard(three_shards, table)
    for n in PARCELS:
        parcel = network.get(tracking(n))
        holding = [i for i, stored in enumerate(per_shard) if str(parcel.id) in stored]
        assert holding == [network.router.index_of(tracking(n))]
        assert len(parcel.scan_versions) == len(journey(n))
        assert per_shard[holding[0]][str(parcel.id)] == parcel.version


def test_a_relay_per_shard_publishes_every_event_once_keyed_by_tracking_number(
        kafka_broker, two_shards, make_network):
    import threading

    from parcelflow.consumers.relay import build_relays
    from tests.support.kafka_settings import kafka_test_settings
    from tests.support.topics import read_topic

    settings = kafka_test_settings(two_shards[0], kafka_broker.bootstrap,
                                   shards=json.dumps(two_shards))
    kafka_broker.create_topics([settings.kafka_events_topic])
    network = make_network(two_shards)
    network.register([manifest(n) for n in PARCELS[:20]])
    network.ingest([s for n in PARCELS[:20] for s in journey(n)[:3]])
    relays = build_relays(network, settings)
    assert len(relays) == 2
    try:
        for r in relays:
            r.run(threading.Event(), follow=False)
        heads = [s.recorder.max_notification_id() for s in network.shards]
        assert [r.position for r in relays] == heads  # each kept on its own shard
    finally:
        for r in relays:
            r.close()
    total = 20 * 4
    records = read_topic(kafka_broker.bootstrap, settings.kafka_events_topic, total)
    assert len(records) == total
    keys = [r.key.decode() for r in records]
    assert {k: keys.count(k) for k in set(keys)} == {tracking(n): 4 for n in PARCELS[:20]}
    assert {network.router.index_of(k) for k in keys} == {0, 1}


def test_detectors_flag_parcels_of_every_shard_and_record_each_on_its_own(
        three_shards, make_network, clock):
    from datetime import timedelta

    from parcelflow.application.detectors import Detectors
    from parcelflow.domain.vocabulary import ExceptionCode
    from parcelflow.projections.watchlist import Watchlist
    from tests.support.builders import T0

    clock.now = T0 + timedelta(hours=4)
    network = make_network(three_shards)
    far = "2026-12-31T18:00:00+08:00"
    network.register([manifest(n, promised_by=far) for n in PARCELS[:12]])
    network.ingest([s for n in PARCELS[:12] for s in journey(n)[:5]])  # quiet from T0+3h
    watchlist = Watchlist(network)
    try:
        clock.now = T0 + timedelta(hours=3 + 48)  # standard service: stalled after 48 h
        assert Detectors(network, watchlist).run_pass().raised == {"stalled": 12}
        assert Detectors(network, watchlist).run_pass().raised == {}  # once
    finally:
        watchlist.close()
    for n in PARCELS[:12]:
        home = network.shard_for(tracking(n))
        [stalled] = [e for e in home.get(tracking(n)).exceptions.values()
                     if e.code == ExceptionCode.STALLED]
        assert stalled.is_open
    assert {network.router.index_of(tracking(n)) for n in PARCELS[:12]} == {0, 1, 2}


def test_health_asks_every_shard(three_shards, make_network):
    import os
    import subprocess
    import sys

    make_network(three_shards)  # the stores made
    env = {**os.environ, "PARCELFLOW_SHARDS": json.dumps(three_shards)}
    env.pop("PARCELFLOW_DATABASE_URL", None)
    healthy = subprocess.run([sys.executable, "-m", "parcelflow", "health", "--projection",
                              "tracking", "--json"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert len(json.loads(healthy.stdout)["projections"][0]["shards"]) == 3
    down = three_shards[:2] + ["postgresql://postgres@127.0.0.1:1/parcels"]
    env["PARCELFLOW_SHARDS"] = json.dumps(down)
    unhealthy = subprocess.run([sys.executable, "-m", "parcelflow", "health", "--timeout", "2"],
                               env=env, capture_output=True, text=True, timeout=120)
    assert unhealthy.returncode == 1 and "database unreachable" in unhealthy.stdout


def test_the_read_model_commands_work_on_every_shard(three_shards, make_network):
    import os
    import subprocess
    import sys

    network = make_network(three_shards)
    network.register([manifest(n) for n in PARCELS[:12]])
    network.ingest([s for n in PARCELS[:12] for s in journey(n)[:4]])
    env = {**os.environ, "PARCELFLOW_SHARDS": json.dumps(three_shards)}
    env.pop("PARCELFLOW_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "parcelflow", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    heads = [s.recorder.max_notification_id() for s in network.shards]
    assert "tracking: 60 events" in run("project", "tracking").stdout  # 12 × (1 + 4)
    [lag] = json.loads(run("lag", "--json").stdout)[:1]
    assert lag["position"] == heads and lag["behind"] == 0
    assert "rebuilt from 60 events" in run("rebuild", "tracking").stdout
    assert "at_facility" in run("track", tracking(12)).stdout


def test_checkpoints_and_verify_run_on_every_shard_and_name_tampering_on_any(
        three_shards, make_network):
    import os
    import subprocess
    import sys

    from parcelflow.adapters.signing import NoteSigner
    from tests.support.tamper import delete_event

    network = make_network(three_shards)
    network.register([manifest(n) for n in PARCELS[:12]])
    network.ingest([s for n in PARCELS[:12] for s in journey(n)[:5]])
    key = NoteSigner.generate("test.parcelflow/checkpoints")
    env = {**os.environ, "PARCELFLOW_SHARDS": json.dumps(three_shards),
           "PARCELFLOW_CHECKPOINT_KEY": key.private_text()}
    env.pop("PARCELFLOW_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "parcelflow", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    made = run("checkpoint", "--json")
    assert made.returncode == 0, made.stderr
    trees = [json.loads(line)["tree_size"] for line in made.stdout.splitlines()]
    on = [sum(1 for n in PARCELS[:12] if network.router.index_of(tracking(n)) == i)
          for i in range(3)]
    assert sorted(trees) == sorted(on) and sum(trees) == 12  # each shard: its own parcels
    assert run("verify", "--all").returncode == 0
    victim = next(n for n in PARCELS[:12] if network.router.index_of(tracking(n)) == 2)
    delete_event(three_shards[2], network.get(tracking(victim)).id, 6)
    for args in (["verify", "--all"], ["verify", tracking(victim)]):
        shown = run(*args)
        assert shown.returncode == 1, shown.stdout + shown.stderr
        assert f"TAMPERED {tracking(victim)} event 6 (deleted_newest_event)" in shown.stdout
    other = next(n for n in PARCELS[:12] if network.router.index_of(tracking(n)) == 1)
    assert run("verify", tracking(other)).returncode == 0


def test_rotate_master_rewraps_the_keys_on_every_shard(three_shards, tmp_path):
    import base64
    import os
    import subprocess
    import sys

    old, new = (base64.b64encode(c * 32).decode() for c in (b"o", b"n"))
    env = {**os.environ, "PARCELFLOW_SHARDS": json.dumps(three_shards),
           "PARCELFLOW_PII_MASTER_KEY": old}
    env.pop("PARCELFLOW_DATABASE_URL", None)

    def run(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "parcelflow", *args], env=environment,
                              capture_output=True, text=True, timeout=120)

    (manifests := tmp_path / "manifests.jsonl").write_text(
        "".join(json.dumps(manifest(n)) + "\n" for n in PARCELS[:12]))
    assert run(env, "register", str(manifests)).returncode == 0
    rotating = {**env, "PARCELFLOW_PII_MASTER_KEY": new, "PARCELFLOW_PII_MASTER_KEY_PREVIOUS": old}
    done = run(rotating, "keys", "rotate-master")
    assert done.returncode == 0, done.stderr
    assert "12 data keys rewrapped under the new master key, 0 already under it" in done.stdout
    after = {**env, "PARCELFLOW_PII_MASTER_KEY": new}
    for n in PARCELS[:12]:
        shown = json.loads(run(after, "history", tracking(n), "--json", "--reveal").stdout)
        assert shown["events"][0]["details"]["manifest"]["receiver"]["phone"] == "13987654321"

