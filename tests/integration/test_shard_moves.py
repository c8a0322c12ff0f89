"""Moving a bucket of parcels to another shard (`parcelflow shards move`) on real
PostgreSQL servers the tests start: under ingest, killed and re-run, against writers
whose shard map is stale, with the read side, the relay and the audit checking out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from parcelflow.adapters.shard_map import SqlShardMap
from parcelflow.application.errors import BucketMoved
from parcelflow.application.sharding import ShardedParcelService
from parcelflow.bootstrap import build_bucket_moves, build_checkpoints, build_service
from parcelflow.domain.buckets import bucket_of
from tests.integration.test_shards import make_network, settings_for  # noqa: F401  (a fixture)
from tests.support.builders import journey, manifest, tracking

BUCKET = 9  # on the first of two shards in a fresh map (buckets 0-127)
OTHER = 200  # a bucket of the second shard, which stays where it is


def numbers_in(bucket: int, count: int, start: int = 1) -> list[int]:
    """Parcel numbers (for the builders) whose tracking numbers hash into `bucket`."""
    found, n = [], start
    while len(found) < count:
        if bucket_of(tracking(n)) == bucket:
            found.append(n)
        n += 1
    return found


@pytest.fixture
def network(two_shards: list[str], make_network: Callable[..., ShardedParcelService]
            ) -> Callable[[], ShardedParcelService]:
    """A service on the two shards, its own shard map cached (as another process's)."""
    return lambda: make_network(two_shards)


def events_per_shard(urls: list[str], numbers: list[int], service: ShardedParcelService
                     ) -> list[dict[int, int]]:
    """How many events of each of these parcels each shard holds (our own SQL)."""
    from parcelflow.domain.ids import parcel_id

    ids = {parcel_id(tracking(n)): n for n in numbers}
    table = service.shards[0].recorder.events_table_name
    found = []
    for url in urls:
        with psycopg.connect(url) as conn:
            rows = conn.execute(f"SELECT originator_id, COUNT(*) FROM {table} WHERE "
                                "originator_id = ANY(%s) GROUP BY originator_id",
                                (list(ids),)).fetchall()
        found.append({ids[pid]: count for pid, count in rows})
    return found


def verified(service: object) -> list[bool]:
    """`verify --all`'s answer on each shard, against its newest checkpoint."""
    return [build_checkpoints(shard)[1].run().ok for shard in service.shards]  # type: ignore[attr-defined]


def test_a_bucket_moves_under_ingest_with_nothing_lost_or_doubled_and_every_chain_verifying(
        two_shards, network):
    from parcelflow.projections.registry import runners as build
    from tests.support.views import dump

    mover_side, writer = network(), network()  # the writer: its own map, cached
    moving, staying = numbers_in(BUCKET, 40), numbers_in(OTHER, 6)
    assert {mover_side.router.index_of(tracking(n)) for n in moving} == {0}
    mover_side.register([manifest(n) for n in moving + staying])
    mover_side.ingest([s for n in moving + staying for s in journey(n)[:4]])
    runners = build(mover_side)
    for r in runners:
        r.run()

    # Writers send the rest of every journey during the move, each batch twice (a
    # scanner's retry), and time each call: a batch held back by the fence waits.
    rest = [s for step in range(4, 11) for n in moving + staying for s in [journey(n)[step]]]
    batches = [rest[i:i + 23] for i in range(0, len(rest), 23)]
    answers, slowest = [], [0.0]
    done = threading.Event()

    def write() -> None:
        for batch in batches:
            for _ in range(2):
                t = time.perf_counter()
                answers.append(writer.ingest(batch))
                slowest[0] = max(slowest[0], time.perf_counter() - t)
            time.sleep(0.01)
        done.set()

    def follow() -> None:  # the read side keeps up, as `project --follow` would
        while not done.is_set() or not following.is_set():
            for r in runners:
                r.run()
            time.sleep(0.05)

    following = threading.Event()
    threads = [threading.Thread(target=write), threading.Thread(target=follow)]
    for t in threads:
        t.start()
    moves = build_bucket_moves(mover_side, settings_for(two_shards))
    moves.CHUNK, moves.FENCE_AT = 40, 40  # many chunks, while the writer writes
    try:
        time.sleep(0.1)
        report = moves.move(BUCKET, two_shards[1])
    finally:
        threads[0].join(120)
        following.set()
        threads[1].join(60)
    assert report.phase == "done" and report.parcels == len(moving)
    print(f"\nmoved {report.copied_events} events in {report.copy_seconds:.2f} s "
          f"({report.rate:.0f} events/s); fence to switch {report.pause_seconds * 1000:.1f} ms; "
          f"slowest write call {slowest[0] * 1000:.0f} ms")

    assert sum(a.accepted for a in answers) == len(rest)  # each scan once...
    assert sum(a.duplicates for a in answers) == len(rest)  # ...and each retry a duplicate
    on = events_per_shard(two_shards, moving, mover_side)
    assert on[0] == {}  # nothing of the bucket left on the old shard
    assert on[1] == {n: 1 + 11 for n in moving}  # registered + every scan, once
    assert SqlShardMap(mover_side.shards[0].factory.datastore).layout(two_shards)[BUCKET] == 1
    for n in moving + staying:
        assert writer.get(tracking(n)).state.status == "delivered"
        assert mover_side.get(tracking(n)).state.status == "delivered"
    assert verified(mover_side) == [True, True]

    # The read side saw every event once: what it followed equals a rebuild from the
    # shards (the copies on the new shard were not applied a second time).
    try:
        for r in runners:
            r.run()
        followed = dump({r.name: r for r in runners})
        assert {row["tracking_no"]: row["status"] for row in followed["tracking"]} == {
            tracking(n): "delivered" for n in moving + staying}
        for r in runners:
            r.rebuild()
        assert dump({r.name: r for r in runners}) == followed
    finally:
        for r in runners:
            r.close()


def test_a_writer_on_a_stale_map_is_fenced_and_its_scans_land_on_the_new_shard(
        two_shards, network):
    from parcelflow.domain.ids import parcel_id

    mover_side = network()
    moving = numbers_in(BUCKET, 5)
    mover_side.register([manifest(n) for n in moving])
    stale = network()  # started before the move: its map says the first shard
    build_bucket_moves(mover_side, settings_for(two_shards)).move(BUCKET, two_shards[1])
    assert stale.router.layout[BUCKET] == 0

    # The old shard itself refuses the bucket, whoever asks: nothing is written there.
    old = stale.shards[0]
    with pytest.raises(BucketMoved):
        old.ingest([journey(moving[0])[0]])
    with pytest.raises(BucketMoved):
        old.personal.keys.ensure([parcel_id(tracking(moving[0]))])
    # The stale writer is told, reads the map again and writes on the new shard.
    report = stale.ingest([journey(n)[0] for n in moving])
    assert report.accepted == len(moving)
    assert stale.router.layout[BUCKET] == 1
    on = events_per_shard(two_shards, moving, mover_side)
    assert on == [{}, {n: 2 for n in moving}]
    # A reader with a stale map still finds the parcels (asked again on the new shard).
    reader = build_service(settings_for(two_shards))
    try:
        reader.router.layout[BUCKET] = 0  # type: ignore[attr-defined]
        assert reader.get(tracking(moving[1])).state.status == "picked_up"
    finally:
        reader.close()


def test_a_killed_move_leaves_every_parcel_readable_and_the_re_run_finishes_it(
        two_shards, network, tmp_path):
    from parcelflow.adapters.signing import NoteSigner

    service = network()
    moving, staying = numbers_in(BUCKET, 30), numbers_in(OTHER, 4)
    service.register([manifest(n) for n in moving + staying])
    service.ingest([s for n in moving + staying for s in journey(n)[:5]])
    key = NoteSigner.generate("test.parcelflow/checkpoints")
    env = {**os.environ, "PARCELFLOW_SHARDS": json.dumps(two_shards),
           "PARCELFLOW_CHECKPOINT_KEY": key.private_text()}
    env.pop("PARCELFLOW_DATABASE_URL", None)
    env.pop("PARCELFLOW_FAILPOINTS", None)

    def run(*args: str, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
        environment = {**env, "PARCELFLOW_FAILPOINTS": failpoint} if failpoint else env
        return subprocess.run([sys.executable, "-m", "parcelflow", *args], env=environment,
                              capture_output=True, text=True, timeout=180)

    assert run("checkpoint").returncode == 0  # both shards anchor their parcels
    move = ("shards", "move", str(BUCKET), "--to", two_shards[1], "--chunk", "40")
    killed = run(*move, failpoint="shards.move.after_chunk@2")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    status = json.loads(run("shards", "status", "--json").stdout)
    [moving_now] = [m for m in status["moves"] if m["phase"] == "copying"]
    assert moving_now["bucket"] == BUCKET
    # Mid-copy: every parcel is read and written where the map says, the first shard.
    assert all(service.get(tracking(n)).version == 6 for n in moving)
    assert service.ingest([journey(n)[5] for n in moving]).accepted == len(moving)
    assert run("checkpoint").returncode == 0  # the new shard now anchors half-copies too

    # Given up before the switch: the bucket stays, the copies go, both shards verify.
    aborted = run("shards", "move", str(BUCKET), "--abort")
    assert aborted.returncode == 0, aborted.stderr
    assert events_per_shard(two_shards, moving, service) == [{n: 7 for n in moving}, {}]
    shown = run("verify", "--all")
    assert shown.returncode == 0, shown.stdout + shown.stderr

    # Again, killed once the map has switched; the re-run verifies and drops.
    killed = run(*move, failpoint="shards.move.after_switch")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert all(service.get(tracking(n)).version == 7 for n in moving)
    finished = run(*move)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"bucket {BUCKET}:" in finished.stdout and "30 parcels verified" in finished.stdout
    assert events_per_shard(two_shards, moving, service) == [{}, {n: 7 for n in moving}]
    assert "no move in progress" in run("shards").stdout
    again = run(*move)
    assert again.returncode == 0 and "already" in again.stdout

    # The audit: the old shard's checkpoint anchored the moved parcels; their drop is
    # a signed record, not a deletion. The next checkpoints hold on both shards.
    for _ in range(2):
        shown = run("verify", "--all")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        made = run("checkpoint", "--json")
        assert made.returncode == 0, made.stderr
    trees = [json.loads(line)["tree_size"] for line in made.stdout.splitlines()]
    assert sorted(trees) == [0, len(moving) + len(staying)]  # all on the second shard now
    # A real deletion on the new shard is still found.
    from tests.support.tamper import delete_event

    delete_event(two_shards[1], service.get(tracking(moving[0])).id, 7)
    shown = run("verify", "--all")
    assert shown.returncode == 1
    assert f"TAMPERED {tracking(moving[0])} event 7" in shown.stdout
    # A drop record the checkpoint key did not sign explains nothing away.
    with psycopg.connect(two_shards[1]) as conn:
        conn.execute("INSERT INTO bucket_drops (bucket, position, reason, note) "
                     "VALUES (%s, 10000000, 'moved', 'not signed')", (BUCKET,))
    shown = run("verify", "--all")
    assert shown.returncode == 1
    assert f"TAMPERED {tracking(moving[0])} event 7" in shown.stdout
    assert f"the record of bucket {BUCKET}'s drop" in shown.stdout + shown.stderr


def test_the_relay_publishes_every_event_of_a_moved_bucket_once(kafka_broker, two_shards,
                                                                network):
    from parcelflow.consumers.relay import build_relays
    from tests.support.kafka_settings import kafka_test_settings
    from tests.support.topics import read_topic

    settings = kafka_test_settings(two_shards[0], kafka_broker.bootstrap,
                                   shards=json.dumps(two_shards))
    kafka_broker.create_topics([settings.kafka_events_topic])
    service = network()
    moving = numbers_in(BUCKET, 10)
    service.register([manifest(n) for n in moving])
    service.ingest([s for n in moving for s in journey(n)[:3]])

    def relay_all() -> None:
        relays = build_relays(service, settings)
        try:
            for r in relays:
                r.run(threading.Event(), follow=False)
        finally:
            for r in relays:
                r.close()

    relay_all()
    build_bucket_moves(service, settings_for(two_shards)).move(BUCKET, two_shards[1])
    service.ingest([s for n in moving for s in journey(n)[3:5]])  # now on the new shard
    relay_all()
    records = read_topic(kafka_broker.bootstrap, settings.kafka_events_topic, 10 * 6)
    keys = [r.key.decode() for r in records]
    assert {k: keys.count(k) for k in set(keys)} == {tracking(n): 6 for n in moving}
