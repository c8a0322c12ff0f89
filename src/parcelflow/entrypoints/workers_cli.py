"""`parcelflow ingest-worker`, `relay`, `notify`, `publish-scans` and `dev`: the workers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from parcelflow.entrypoints.cli_support import err, fail, out
from parcelflow.entrypoints.running import until_signalled
from parcelflow.settings import NotifyChannel, get_settings

app = typer.Typer()


def _service(cache_size: int | None = None, settings: Any = None) -> Any:
    """The service for a worker (workers starting together are safe: the schema is
    created under a lock, see adapters.store.schema_lock)."""
    from parcelflow.bootstrap import build_service

    return build_service(settings or get_settings(), cache_size=cache_size)


def _needs_kafka(command: str) -> None:
    if not get_settings().kafka_bootstrap_servers:
        fail(f"`parcelflow {command}` needs Kafka: set PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS", 2)


@app.command("ingest-worker")
def ingest_worker(
    cache_size: Annotated[Optional[int], typer.Option(
        help="Parcels kept in memory (default PARCELFLOW_INGEST_CACHE_SIZE).")] = None,
) -> None:
    """Consume scans from Kafka (a consumer group) into the event store."""
    from parcelflow.consumers.ingest_worker import build_ingest_worker

    _needs_kafka("ingest-worker")
    settings = get_settings()
    worker = build_ingest_worker(_service(cache_size), settings)
    stop = until_signalled(settings, "ingest-worker")
    err.print(f"ingesting scans from {settings.kafka_scans_topic} (Ctrl-C stops)")
    try:
        worker.run(stop)
    finally:
        worker.close()


@app.command()
def relay(once: Annotated[bool, typer.Option(
        "--once", help="Publish up to the log's head, then stop.")] = False) -> None:
    """Publish every stored event to Kafka as a CloudEvent, from the saved position."""
    from functools import partial

    from parcelflow.consumers.relay import build_relays
    from parcelflow.entrypoints.per_shard import run_per_shard

    _needs_kafka("relay")
    settings = get_settings()
    relays = build_relays(_service(0), settings)  # one per shard
    stop = until_signalled(settings, "relay")
    err.print(f"relaying events to {settings.kafka_events_topic} from position "
              f"{', '.join(str(r.position) for r in relays)} (Ctrl-C stops)")
    try:
        run_per_shard([partial(r.run, stop, follow=not once) for r in relays], stop, "relay")
    finally:
        for r in relays:
            r.close()
    if once:
        out.print(f"published {sum(r.published for r in relays)} events; position "
                  f"{', '.join(str(r.position) for r in relays)}")


@app.command()
def notify(
    once: Annotated[bool, typer.Option(
        "--once", help="Without Kafka: handle the log up to its head, then stop.")] = False,
    channel: Annotated[Optional[list[NotifyChannel]], typer.Option(
        "--channel", help="Only this channel (repeat for more). "
        "Each set of channels is a consumer group of its own.")] = None,
) -> None:
    """Tell receivers (email, SMS) and merchants (signed webhooks) what happened."""
    from parcelflow.consumers.notifications.worker import (
        ShardedStoreNotifyWorker,
        StoreNotifyWorker,
        build_notify_worker,
    )

    settings = get_settings()
    if channel:
        settings = settings.model_copy(update={"notify_channels": channel})
    worker = build_notify_worker(_service(0, settings), settings)
    stop = until_signalled(settings, "notify")
    source = (settings.kafka_events_topic if settings.kafka_bootstrap_servers
              else "the event store")
    err.print(f"notifying from {source} (Ctrl-C stops)")
    try:
        if isinstance(worker, StoreNotifyWorker | ShardedStoreNotifyWorker):
            worker.run(stop, follow=not once)
        elif once:
            fail("--once works without Kafka only (a consumer group has no end)", 2)
        else:
            worker.run(stop)
    finally:
        worker.close()


@app.command("publish-scans")
def publish_scans(file: Annotated[str, typer.Argument(
        help="JSON Lines file of scans, or - for standard input.")]) -> None:
    """Publish scans to the scans topic, keyed by tracking number (as scanners do)."""
    from parcelflow.adapters import kafka
    from parcelflow.entrypoints.jsonlines import open_input, read_lines

    _needs_kafka("publish-scans")
    settings = get_settings()
    kafka.ensure_topics(settings, [settings.kafka_scans_topic])
    from parcelflow.adapters.scan_partitions import scan_producer_options

    producer = kafka.producer(settings, client_id="parcelflow-publish-scans",
                              **scan_producer_options(settings))
    numbers: list[int] = []  # the line each message came from
    messages: list[kafka.Message] = []
    failed: list[tuple[int, str]] = []  # (line number, why it was not published)
    with open_input(file) as stream:
        for line in read_lines(stream):
            if line.error is not None:  # not UTF-8, not JSON: no scanner would send it
                failed.append((line.number, line.error))
                continue
            tracking_no = line.item.get("tracking_no") if isinstance(line.item, dict) else None
            key = tracking_no.encode() if isinstance(tracking_no, str) and tracking_no else None
            numbers.append(line.number)
            messages.append(kafka.Message(settings.kafka_scans_topic, line.raw, key))
    outcomes = kafka.send_each(producer, messages, timeout=settings.kafka_send_timeout)
    producer.close(timeout=5)
    total = len(messages) + len(failed)
    failed += [(number, f"{type(e).__name__}: {e}")  # why each line was not published
               for number, e in zip(numbers, outcomes) if e is not None]
    for number, reason in sorted(failed)[:20]:
        err.print(f"line {number}: not published: {reason}", highlight=False)
    if failed:
        fail(f"{len(failed)} of {total} scans were not published; publish those lines "
             "again (a scan_id makes a repeat harmless)", 1)
    out.print(f"published {total} scans to {settings.kafka_scans_topic}")


@app.command()
def dev(
    workdir: Annotated[Path, typer.Option(help="Where the dev database and mail go.")] = Path(
        "parcelflow-dev"),
    port: Annotated[int, typer.Option(help="Kafka port for the local broker.")] = 19092,
    shards: Annotated[int, typer.Option(
        min=1, max=8, help="Shard the store over N throwaway PostgreSQL servers "
        "(the machine's binaries; their data is thrown away on exit).")] = 1,
) -> None:
    """Start a local broker (from the `broker` extra), an SMTP sink and every worker."""
    from parcelflow.entrypoints.dev import run_dev

    # A development run by definition: its workers get PARCELFLOW_DEVELOPMENT too.
    settings = get_settings().model_copy(update={"development": True})
    stop = until_signalled(settings, "dev", metrics_served=False)
    run_dev(workdir, port, stop, console=err, shards=shards)

