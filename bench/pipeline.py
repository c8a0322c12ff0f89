"""The Kafka pipeline on the test broker (Tansu) and PostgreSQL: ingest workers, the relay,
and scan-to-notification latency at a steady rate.

    .venv/bin/python bench/pipeline.py [--scans 22000] [--rate 500] [--seconds 20]

1. ingest worker: scans already on the scans topic (full journeys, each poll holding the
   next scan of many parcels); one worker in this process; scans/s from its first
   handled poll to the last, after the group join.
2. relay: every event of step 1 published from position 0 to the parcel-events topic,
   acknowledged by the broker (acks=all), position saved per batch; events/s.
3. latency: new parcels' scans produced at a steady --rate for --seconds while every
   worker runs, each in its own process as deployed (`parcelflow ingest-worker`,
   `relay`, `project tracking --follow`, `notify` with email to a local SMTP server,
   signed webhooks to a local HTTP server and recorded SMS); for every email, the time
   from its scan being produced to the email arriving: p50 / p99.

Everything runs on this machine (broker, PostgreSQL, SMTP and HTTP peers, workers), so
the figures include their competition for the same cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaProducer  # noqa: E402
from parcelflow.consumers.ingest_worker import build_ingest_worker  # noqa: E402
from parcelflow.consumers.relay import build_relay  # noqa: E402

from parcelflow.adapters.positions import PositionStore  # noqa: E402
from parcelflow.application.service import utcnow  # noqa: E402
from parcelflow.bootstrap import build_service  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.settings import WebhookEndpoint  # noqa: E402
from tests.support.builders import journey, manifest, recent_start  # noqa: E402
from tests.support.kafka_broker import PRODUCER_CONFIG, KafkaBroker  # noqa: E402
from tests.support.kafka_settings import kafka_test_settings, settings_env  # noqa: E402
from tests.support.mail import MailSink  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from tests.support.webhook_peer import WebhookPeer  # noqa: E402
from tests.support.workers import wait_until  # noqa: E402

STEPS = 11  # scans per journey (tests.support.builders.journey)
EMAIL_STEPS = {"已揽收": 0, "正在派送": 9, "已签收": 10}  # subject word -> journey step


def journeys(first: int, parcels: int) -> list[dict]:
    t0 = recent_start()
    by_parcel = {n: journey(n, t0=t0) for n in range(first, first + parcels)}
    return [by_parcel[n][step] for step in range(STEPS) for n in by_parcel]


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER_CONFIG, "linger_ms": 20,
                                                         "batch_size": 512 * 1024})


def bench_ingest(settings, svc, bootstrap: str, scans: int) -> tuple[float, int]:
    parcels = scans // STEPS
    svc.register([manifest(n) for n in range(1, parcels + 1)])
    items = journeys(1, parcels)
    p = producer(bootstrap)
    for item in items:
        p.send(settings.kafka_scans_topic, key=item["tracking_no"].encode(),
               value=json.dumps(item).encode())
    p.flush()
    p.close()

    worker = build_ingest_worker(build_service(settings, cache_size=200_000), settings)
    done, first = [0], [0.0]
    handle = worker.handle

    def timed(records):  # type: ignore[no-untyped-def]
        if not first[0]:
            first[0] = time.perf_counter()
        dead = handle(records)
        done[0] += len(records)
        return dead

    worker.handle = timed  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    wait_until(lambda: done[0] >= len(items), timeout=600, what="ingest")
    took = time.perf_counter() - first[0]
    stop.set()
    thread.join(30)
    worker.close()
    return len(items) / took, len(items)


def bench_relay(settings, svc) -> tuple[float, int]:
    relay = build_relay(build_service(settings, cache_size=0), settings)
    head = svc.recorder.max_notification_id()
    started = time.perf_counter()
    relay.run(threading.Event(), follow=False)
    took = time.perf_counter() - started
    assert relay.position == head
    relay.close()
    return relay.published / took, relay.published


class Peers:
    """The SMTP server and the merchant's HTTP endpoint in a process of their own (as real
    ones would be), so they do not take this process's interpreter lock; they report
    each email's subject and arrival time on a pipe."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--serve-peers"],
                                         stdout=subprocess.PIPE, text=True)
        self.smtp_url, self.webhook_url, self.secret = \
            self.process.stdout.readline().split()  # type: ignore[union-attr]
        self.emails: list[tuple[float, str]] = []
        self.webhooks = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            kind, at, text = line.rstrip("\n").split(" ", 2)
            if kind == "mail":
                self.emails.append((float(at), text))
            else:
                self.webhooks += 1

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)


def serve_peers() -> None:
    lock = threading.Lock()
    mail, merchant = MailSink(), WebhookPeer()

    async def handle_data(server, session, envelope):  # type: ignore[no-untyped-def]
        header = BytesHeaderParser(policy=policy.default).parsebytes(envelope.original_content)
        with lock:
            print("mail", time.time(), str(header["Subject"]).strip(), flush=True)
        return "250 OK"

    mail.handle_DATA = handle_data  # type: ignore[method-assign]
    mail.start()
    merchant.start()
    print(mail.url, merchant.url, merchant.secret, flush=True)
    seen = 0
    while True:
        time.sleep(0.2)
        with lock:
            for _ in range(len(merchant.requests) - seen):
                print("hook", time.time(), "-", flush=True)
        seen = len(merchant.requests)
        merchant.requests.clear()
        seen = 0


def start_workers(settings, logs: Path) -> list[subprocess.Popen]:
    """Each worker in its own process, as deployed: `parcelflow <command>`."""
    env = {**os.environ, **settings_env(settings), "PARCELFLOW_LOG_FORMAT": "json",
           "PARCELFLOW_LOG_LEVEL": "WARNING", "PARCELFLOW_SMS_PROVIDER": "recording"}
    return [subprocess.Popen([sys.executable, "-m", "parcelflow", *args], env=env,
                             stdout=subprocess.DEVNULL,
                             stderr=open(logs / f"{args[0]}.log", "wb"))
            for args in (["ingest-worker"], ["relay"], ["project", "tracking", "--follow"],
                         ["notify"])]


def bench_latency(settings, svc, bootstrap: str, first: int, rate: int, seconds: float,
                  verbose: bool = False) -> tuple[list[float], int, int]:
    parcels = max(1, int(rate * seconds) // STEPS)
    svc.register([manifest(n) for n in range(first, first + parcels)])
    items = journeys(first, parcels)
    peers = Peers()
    settings = settings.model_copy(update={
        # fresh topics and groups: the relay carries on from its position onto a topic
        # holding only this run's events
        "kafka_scans_topic": settings.kafka_scans_topic + ".steady",
        "kafka_events_topic": settings.kafka_events_topic + ".steady",
        "kafka_ingest_group": settings.kafka_ingest_group + "-steady",
        "kafka_notify_group": settings.kafka_notify_group + "-steady",
        "smtp_url": peers.smtp_url,
        "merchant_webhooks": {"shop-123": WebhookEndpoint(url=peers.webhook_url,
                                                          secret=peers.secret)}})
    logs = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    workers = start_workers(settings, logs)
    sent_at: dict[tuple[str, int], float] = {}
    watching = threading.Event()
    positions = PositionStore(svc.factory.datastore)

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def watch() -> None:  # where the stream is, stage by stage (--verbose)
        while not watching.wait(2.0):
            print("  cpu s: " + ", ".join(f"{w.args[3]} {cpu(w.pid):.1f}" for w in workers)
                  + f", peers {cpu(peers.process.pid):.1f}", flush=True)
            print(f"  produced {len(sent_at)}, stored up to {svc.recorder.max_notification_id()}, "
                  f"relayed to {positions.get('relay')}, emails {len(peers.emails)}, "
                  f"webhooks {peers.webhooks}", flush=True)

    if verbose:
        threading.Thread(target=watch, daemon=True).start()
    try:
        time.sleep(10)  # start-up and group joins (ingest, notify) before the clock starts
        p = producer(bootstrap)
        started = time.perf_counter()
        for i, item in enumerate(items):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent_at[(item["tracking_no"], i // parcels)] = time.time()
            p.send(settings.kafka_scans_topic, key=item["tracking_no"].encode(),
                   value=json.dumps(item).encode())
        p.flush()
        p.close()
        wait_until(lambda: len(peers.emails) >= 3 * parcels, timeout=300, what="emails")
    finally:
        watching.set()
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        for worker in workers:
            worker.wait(timeout=30)
        peers.stop()
    latencies = []
    for arrived, text in peers.emails:
        number = next(w for w in text.split() if w.startswith("PF"))
        step = next(s for word, s in EMAIL_STEPS.items() if word in text)
        latencies.append(arrived - sent_at[(number, step)])
    return latencies, len(items), peers.webhooks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scans", type=int, default=22_000, help="scans for the ingest figure")
    parser.add_argument("--rate", type=int, default=500, help="scans/s for the latency figure")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the steady run")
    parser.add_argument("--verbose", action="store_true", help="show each stage's progress")
    parser.add_argument("--skip-throughput", action="store_true", help="latency figure only")
    parser.add_argument("--serve-peers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_peers:
        serve_peers()
        return 0
    configure_logging("console", "WARNING")
    logging.basicConfig(level=logging.CRITICAL)  # kafka-python's own logs

    with KafkaBroker() as broker, fresh_database() as url:
        settings = kafka_test_settings(url, broker.bootstrap, max_batch=1000)
        broker.create_topics([settings.kafka_scans_topic, settings.kafka_events_topic])
        svc = build_service(settings, clock=utcnow)
        if not args.skip_throughput:
            rate, n = bench_ingest(settings, svc, broker.bootstrap, args.scans)
            print(f"ingest worker (1 process): {n} scans at {rate:,.0f} scans/s")
            rate, n = bench_relay(settings, svc)
            print(f"relay: {n} events published and acknowledged at {rate:,.0f} events/s")

        first = args.scans // STEPS + 1
        latencies, scans, hooks = bench_latency(settings, svc, broker.bootstrap, first,
                                                args.rate, args.seconds, args.verbose)
        q = statistics.quantiles(latencies, n=100)
        print(f"scan-to-email at {args.rate} scans/s for {args.seconds:.0f} s ({scans} scans, "
              f"{len(latencies)} emails, {hooks} webhooks, every worker running): "
              f"p50 {statistics.median(latencies) * 1000:,.0f} ms, p99 {q[98] * 1000:,.0f} ms, "
              f"max {max(latencies) * 1000:,.0f} ms")
        svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
