"""Each long-running worker serves its own Prometheus metrics on PARCELFLOW_METRICS_PORT;
the API's /metrics reads the relay's lag from the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from parcelflow.adapters.positions import RELAY, PositionStore
from tests.support.api import make_api
from tests.support.builders import journey, manifest, recent_start
from tests.support.kafka_settings import kafka_test_settings, settings_env
from tests.support.serving import free_port
from tests.support.workers import wait_until


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


@pytest.mark.postgres
def test_the_relay_serves_its_metrics_and_the_api_reports_its_lag(
        kafka_broker, make_service, postgres_url):
    from parcelflow.application.service import utcnow

    settings = kafka_test_settings(postgres_url, kafka_broker.bootstrap)
    svc = make_service(postgres_url, clock=utcnow)
    svc.register([manifest(1)])
    svc.ingest(journey(1, t0=recent_start())[:4])
    head = svc.recorder.max_notification_id()

    api = make_api(svc, postgres_url, kafka_bootstrap_servers=kafka_broker.bootstrap)
    client = next(api)
    text = client.client.get("/metrics").text
    assert f"parcelflow_relay_lag_events {float(head)}" in text  # nothing relayed yet

    port = free_port()
    env = {**os.environ, **settings_env(settings), "PARCELFLOW_METRICS_PORT": str(port),
           "PARCELFLOW_METRICS_HOST": "127.0.0.1", "PARCELFLOW_LOG_FORMAT": "json"}
    relay = subprocess.Popen([sys.executable, "-m", "parcelflow", "relay"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    positions = PositionStore(svc.factory.datastore)
    try:
        wait_until(lambda: positions.get(RELAY) == head, what="the relay to publish everything")
        wait_until(lambda: "parcelflow_relay_lag_events 0.0" in scrape(port),
                   what="the relay's own metrics")
    finally:
        relay.send_signal(signal.SIGTERM)
        _, err = relay.communicate(timeout=30)
    assert relay.returncode == 0, err.decode()[-2000:]
    assert "metrics.serving" in err.decode()

    text = client.client.get("/metrics").text
    assert "parcelflow_relay_lag_events 0.0" in text
    next(api, None)  # the API's context closes
