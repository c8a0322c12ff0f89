"""A lookup's two counts on a real Redis, made in one round trip (`_HitsInOrder`): they
must be the library's own counts, in the library's keys, refused in the same order as
one `hit` per limit, and a Redis that is away must still let lookups through. Each test
of the counts runs twice: on Redis itself (`redis://`) and through a real Sentinel in
front of it (`redis+sentinel://`), the storage a deployment with failover names."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest

from parcelflow.api.problems import Problem
from parcelflow.api.ratelimit import LookupLimits
from parcelflow.metrics import REGISTRY
from tests.support.redis_server import REDIS_URL, redis_required, redis_sentinel


@pytest.fixture(scope="module", autouse=True)
def _redis_is_there() -> None:
    redis_required()


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_sentinel(tmp_path_factory.mktemp("sentinel")) as url:
        yield url


@pytest.fixture(params=["redis", "sentinel"])
def store(request: pytest.FixtureRequest) -> str:
    return REDIS_URL if request.param == "redis" else request.getfixturevalue("sentinel_url")


def shared(store: str, per_address: str, per_parcel: str) -> LookupLimits:
    return LookupLimits(per_address, per_parcel, "5/hour", storage=store,
                        prefix=f"parcelflow-test-{uuid.uuid4().hex[:8]}")


def admitted(limits: LookupLimits, address: str, tracking_no: str) -> str:
    try:
        limits.count_lookup(address, tracking_no)
    except Problem as refused:
        assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
        return "refused"
    return "admitted"


def remaining(limits: LookupLimits, limit_name: str, key: str) -> int:
    limit = getattr(limits, limit_name)
    return limit._limiter.get_window_stats(limit.item, limit._namespace, key).remaining


def test_a_redis_url_takes_the_one_trip_path(store):
    # (else the tests below would test the one-call-a-limit fallback)
    assert shared(store, "50/minute", "50/minute")._in_order is not None
    assert LookupLimits("1/minute", "1/minute", "5/hour")._in_order is None


def test_one_trip_counts_are_the_librarys_and_the_librarys_are_seen_by_it(store):
    limits = shared(store, "5/minute", "3/minute")
    for _ in range(2):
        limits.count_lookup("198.51.100.1", "PF000000000001")
    assert remaining(limits, "per_address", "198.51.100.1") == 3
    assert remaining(limits, "per_parcel", "PF000000000001") == 1
    limits.per_parcel.hit("PF000000000001")  # the library's own call, one count
    assert admitted(limits, "198.51.100.2", "PF000000000001") == "refused"
    # The parcel refused it: the address was counted (it came first), the parcel not.
    assert remaining(limits, "per_address", "198.51.100.2") == 4
    assert remaining(limits, "per_parcel", "PF000000000001") == 0


def test_an_address_over_its_limit_does_not_use_up_the_parcels_lookups(store):
    limits = shared(store, "2/minute", "5/minute")
    assert [admitted(limits, "198.51.100.3", "PF000000000002") for _ in range(4)] == \
        ["admitted", "admitted", "refused", "refused"]
    assert remaining(limits, "per_parcel", "PF000000000002") == 3  # the two admitted only
    assert admitted(limits, "198.51.100.4", "PF000000000002") == "admitted"


def test_the_same_lookups_are_refused_as_with_one_call_a_limit(store):
    """The oracle: the in-process store, which makes one library `hit` per limit in
    turn; 300 lookups from 4 addresses at 6 parcels, refused alike lookup by lookup.
    Hourly limits: the in-process store's windows begin on the clock's boundaries and
    Redis's at a key's first count, so a run across a boundary would weigh them apart
    (a minute's limits crossed one in ~1 run of 300; an hour's in ~1 of 20,000)."""
    rng = random.Random(7)
    lookups = [(f"198.51.100.{rng.randrange(4)}", f"PF{rng.randrange(6):012d}")
               for _ in range(300)]
    in_process = LookupLimits("40/hour", "25/hour", "5/hour")
    one_trip = shared(store, "40/hour", "25/hour")
    expected = [admitted(in_process, a, t) for a, t in lookups]
    assert "refused" in expected and "admitted" in expected
    assert [admitted(one_trip, a, t) for a, t in lookups] == expected


def test_counts_made_through_the_sentinel_are_on_its_master(sentinel_url):
    prefix = f"parcelflow-test-{uuid.uuid4().hex[:8]}"
    through = LookupLimits("5/minute", "5/minute", "5/hour", storage=sentinel_url, prefix=prefix)
    direct = LookupLimits("5/minute", "5/minute", "5/hour", storage=REDIS_URL, prefix=prefix)
    for _ in range(2):
        through.count_lookup("198.51.100.6", "PF000000000004")
    assert remaining(direct, "per_address", "198.51.100.6") == 3
    assert remaining(direct, "per_parcel", "PF000000000004") == 3


def test_a_redis_that_is_away_lets_lookups_through_and_is_counted():
    limits = LookupLimits("1/minute", "1/minute", "5/hour", storage="redis://127.0.0.1:1",
                          prefix="parcelflow-test-away")
    before = REGISTRY.get_sample_value("parcelflow_rate_limit_store_errors_total") or 0.0
    for _ in range(3):
        limits.count_lookup("198.51.100.5", "PF000000000003")
    assert REGISTRY.get_sample_value("parcelflow_rate_limit_store_errors_total") == before + 3
