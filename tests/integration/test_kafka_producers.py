"""Every worker's Kafka producer, as its own builder makes it and as kafka-python took its
configuration, is what Apache Kafka in production needs: idempotent, acknowledged by
every in-sync replica, one request in flight (so a retried send cannot overtake the next
one and per-parcel order holds). The settings are the defaults but for where the broker,
the database and the topics are; the tests elsewhere turn idempotence off for their
broker, which refuses kafka-python's InitProducerId."""

from __future__ import annotations

from parcelflow.consumers.ingest_worker import build_ingest_worker
from parcelflow.consumers.notifications.worker import build_notify_worker
from parcelflow.consumers.relay import build_relay
from parcelflow.settings import Settings
from tests.support.kafka_settings import kafka_test_settings

PLACES = ("database_url", "kafka_bootstrap_servers", "kafka_scans_topic", "kafka_scans_dlq_topic",
          "kafka_events_topic", "kafka_notifications_dlq_topic", "kafka_ingest_group",
          "kafka_notify_group")


def test_every_workers_producer_is_idempotent_acks_all_and_ordered_by_default(
        kafka_broker, make_service, tmp_path, monkeypatch):
    monkeypatch.delenv("PARCELFLOW_KAFKA_IDEMPOTENCE", raising=False)
    places = kafka_test_settings(f"sqlite:///{tmp_path}/p.db", kafka_broker.bootstrap)
    settings = Settings(_env_file=None, **{name: getattr(places, name) for name in PLACES})  # type: ignore[call-arg]
    svc = make_service(settings.database_url)
    workers = {"relay": build_relay(svc, settings),
               "ingest-worker": build_ingest_worker(svc, settings),
               "notify": build_notify_worker(svc, settings)}
    producers = {"relay": workers["relay"].producer,
                 "ingest-worker dead letters": workers["ingest-worker"].batches.producer,
                 "notify dead letters": workers["notify"].batches.producer}  # type: ignore[union-attr]
    try:
        for name, producer in producers.items():
            config = producer.config  # as the library resolved and checked it
            assert config["enable_idempotence"] is True, name
            assert config["acks"] == -1, name  # kafka-python's spelling of acks="all"
            assert config["max_in_flight_requests_per_connection"] == 1, name
            assert config["bootstrap_servers"] == [kafka_broker.bootstrap], name
    finally:
        for worker in workers.values():
            worker.close()
