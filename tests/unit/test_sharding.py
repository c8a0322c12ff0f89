"""Parcels spread over several event stores (application/sharding.py) on the fakes: each
parcel's events, keys and answers on its own shard, batches answered in input order.
The same runs on real PostgreSQL servers in tests/integration/test_shards.py."""

from __future__ import annotations

from collections import Counter

import pytest

from parcelflow.application.erasure import Erasure
from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.sharding import ShardedLog, ShardedParcelService
from parcelflow.domain.buckets import BUCKETS, bucket_of, even_layout
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.vocabulary import ExceptionCode
from parcelflow.settings import Settings
from parcelflow.wire.scans import BatchTooLarge
from tests.support.builders import Clock, journey, manifest, scan, tracking
from tests.support.in_memory import in_memory_service

PARCELS = range(1, 41)


@pytest.fixture
def shards(clock: Clock):
    return [in_memory_service(clock) for _ in range(3)]


@pytest.fixture
def network(shards) -> ShardedParcelService:
    return ShardedParcelService(shards, even_layout(3))


def holders(shards, tracking_no: str) -> list[int]:
    """Which shards hold any event of the parcel (read from each shard itself)."""
    return [i for i, shard in enumerate(shards)
            if shard.recorder.select_events(parcel_id(tracking_no))]


def test_a_tracking_number_keeps_its_bucket_for_good():
    # A stored shard map is laid out on these buckets: the hash must never change.
    # 161: the first byte of SHA-1(parcel namespace || number), worked out by hand with
    # hashlib (RFC 4122's name-based UUID, version 5).
    assert bucket_of("PF202611220000001") == 161
    assert bucket_of(tracking(2)) != bucket_of(tracking(1))


def test_a_parcels_bucket_is_the_first_byte_of_its_id():
    from uuid import UUID, uuid4

    from parcelflow.domain.buckets import bucket_of_parcel

    ids = [parcel_id(f"PF2026112{n:08d}") for n in range(2_000)] + [uuid4() for _ in range(500)]
    ids += [UUID(int=0), UUID(int=(1 << 128) - 1), UUID(int=1 << 120), UUID(int=(1 << 120) - 1)]
    assert all(bucket_of_parcel(pid) == pid.bytes[0] for pid in ids)


def test_buckets_are_evenly_filled_and_laid_out_in_equal_runs():
    counts = Counter(bucket_of(f"PF2026112{n:08d}") for n in range(51_200))
    assert set(counts) == set(range(BUCKETS))
    assert min(counts.values()) > 150 and max(counts.values()) < 250  # 200 each on average
    assert Counter(even_layout(3)) == {0: 86, 1: 85, 2: 85}
    assert even_layout(1) == [0] * BUCKETS


def test_every_parcel_is_stored_on_exactly_one_shard_and_all_shards_are_used(network, shards):
    report = network.register([manifest(n) for n in PARCELS])
    assert report.accepted == len(PARCELS)
    scans = [s for n in PARCELS for s in journey(n)[:3]]
    assert network.ingest(scans).accepted == len(scans)
    places = {n: holders(shards, tracking(n)) for n in PARCELS}
    assert all(len(p) == 1 for p in places.values())
    assert {p[0] for p in places.values()} == {0, 1, 2}
    for n in PARCELS:
        assert network.get(tracking(n)).version == shards[places[n][0]].get(tracking(n)).version
        assert len(network.stored_events(tracking(n))) == 4  # registered and three scans


def test_a_batch_across_shards_answers_per_item_in_input_order(network):
    network.register([manifest(n) for n in PARCELS[:6]])
    first = journey(1)[0]
    batch = [first, journey(2)[0], {"tracking_no": tracking(3)}, "not an object",
             dict(first), journey(4)[0], journey(5)[0]]
    report = network.ingest(batch)
    assert [r.index for r in report.results] == list(range(len(batch)))
    assert [str(r.status) for r in report.results] == [
        "accepted", "accepted", "rejected", "rejected", "duplicate", "accepted", "accepted"]
    assert report.results[0].key == first["scan_id"]
    assert report.events == 4
    assert network.ingest(batch).accepted == 0  # replaying changes nothing


def test_a_batch_on_several_shards_names_each_shards_position(network, shards):
    network.register([manifest(n) for n in PARCELS])
    on = {n: holders(shards, tracking(n))[0] for n in PARCELS}
    a = next(n for n in PARCELS if on[n] == 0)
    b = next(n for n in PARCELS if on[n] == 2)
    both = network.ingest([journey(a)[0], journey(b)[0]])
    assert both.position is None
    assert both.extra["positions"] == {0: shards[0].recorder.max_notification_id(),
                                       2: shards[2].recorder.max_notification_id()}
    one = network.ingest([journey(b)[1]])
    assert one.position == shards[2].recorder.max_notification_id()


def test_the_batch_limit_is_the_whole_batchs_not_each_shards(clock):
    shards = [in_memory_service(clock) for _ in range(2)]
    network = ShardedParcelService(shards, even_layout(2))
    limit = shards[0].limits.max_batch
    with pytest.raises(BatchTooLarge):
        network.ingest([scan("pickup", "SZX-OUT-07", 0, n) for n in range(limit + 1)])


def test_use_cases_run_on_the_parcels_shard(network, shards):
    network.register([manifest(n) for n in PARCELS[:9]])
    flow = ExceptionWorkflow(network)
    for n in PARCELS[:9]:
        raised = flow.raise_exception(tracking(n), ExceptionCode.DAMAGED, by="hub-1")
        [home] = holders(shards, tracking(n))
        assert raised.position == shards[home].recorder.max_notification_id()
        assert raised.case_id in shards[home].get(tracking(n)).exceptions
    with pytest.raises(ParcelNotFound):
        flow.acknowledge(tracking(99), "damaged", by="cs-anna")


def test_personal_data_is_sealed_and_erased_with_the_key_on_the_parcels_shard(network, shards):
    network.register([manifest(n) for n in PARCELS[:9]])
    for n in PARCELS[:9]:
        pid = parcel_id(tracking(n))
        [home] = holders(shards, tracking(n))
        assert [bool(s.personal.keys.keys([pid])) for s in shards] == [
            i == home for i in range(3)]
        receiver = network.personal.opener([pid]).open(
            pid, network.get(tracking(n)).manifest.receiver_sealed, reveal=True)
        assert receiver["phone"] == "13987654321"
    Erasure(network).erase(tracking(1), by="dpo")
    pid = parcel_id(tracking(1))
    assert network.personal.keys.keys([pid]) == {pid: None}


def test_the_newer_events_of_many_parcels_are_read_each_from_its_own_shard(network, shards):
    network.register([manifest(n) for n in PARCELS[:9]])
    network.ingest([s for n in PARCELS[:9] for s in journey(n)[:2]])
    ids = [parcel_id(tracking(n)) for n in PARCELS[:9]]
    assert len({holders(shards, tracking(n))[0] for n in PARCELS[:9]}) > 1  # spread out
    newer = network.recorder.select_events_in({pid: range(2, 9) for pid in ids})
    assert {pid: [e.originator_version for e in events] for pid, events in newer.items()} \
        == {pid: [2, 3] for pid in ids}  # registered (1), then two scans


def test_reads_of_one_log_are_refused_not_answered_from_one_shard(network):
    with pytest.raises(ShardedLog):
        network.recorder.max_notification_id()
    with pytest.raises(ShardedLog):
        network.recorder.select_events_for([parcel_id(tracking(1))], upto=3)


def test_shards_setting_is_a_list_of_urls_or_one_url():
    one = Settings(shards="postgresql://postgres@db:5432/parcels", _env_file=None)
    assert one.shard_urls() == [one.database_url] == ["postgresql://postgres@db:5432/parcels"]
    two = Settings(shards='["postgresql://a:5432/p", "postgresql://b:5432/p"]', _env_file=None)
    assert two.shard_urls() == ["postgresql://a:5432/p", "postgresql://b:5432/p"]
    assert two.database_url == "postgresql://a:5432/p"  # the read side's
    assert Settings(_env_file=None).shard_urls() == [Settings(_env_file=None).database_url]
    for bad in ('[]', '["postgresql://a/p", "postgresql://a/p"]', '[1]', '["x", '):
        with pytest.raises(ValueError, match="shards"):
            Settings(shards=bad, _env_file=None)


def test_the_scans_topic_is_cut_along_the_shards_lines():
    from parcelflow.adapters.scan_partitions import bucket_partitioner, scan_producer_options

    numbers = [f"PF2026112{n:08d}" for n in range(3000)]
    for partitions, shards in [(12, 3), (6, 3), (12, 2), (4, 4)]:
        layout = even_layout(shards)
        on: dict[int, set[int]] = {}
        for number in numbers:
            p = bucket_partitioner(number.encode(), list(range(partitions)), [])
            on.setdefault(p, set()).add(layout[bucket_of(number)])
        assert sorted(on) == list(range(partitions))  # every partition used
        assert all(len(s) == 1 for s in on.values())  # each partition: one shard
    assert scan_producer_options(Settings(_env_file=None)) == {}  # one shard: as today
    two = Settings(shards='["postgresql://a/p", "postgresql://b/p"]', _env_file=None)
    assert scan_producer_options(two)["partitioner"] is bucket_partitioner
