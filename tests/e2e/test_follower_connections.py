"""How many PostgreSQL connections a `parcelflow project --follow` process holds while it
works: one per read model it follows, one for the writes, one listening for new events
on behalf of all (the shared server allows 100; four followers and the API used to
exhaust a small one at 11-12 connections each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from parcelflow.projections.registry import runners as build_runners
from tests.support.builders import journey, manifest, recent_start
from tests.support.workers import wait_until

pytestmark = pytest.mark.postgres


def connections(database_url: str, application_name: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND application_name = %s",
                            [application_name]).fetchone()[0]


@pytest.mark.parametrize(("names", "pool", "most"), [
    (["tracking"], None, 1 + 1 + 1),
    ([], None, 4 + 1 + 1),  # all four read models
    ([], "2", 2),  # the setting caps it; the four still keep up
])
def test_a_follower_holds_a_connection_per_read_model_and_one_for_writes(
        make_service, postgres_url, tmp_path, names, pool, most):
    from parcelflow.application.service import utcnow

    name = f"pf-follow-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": postgres_url,
           "PARCELFLOW_LOG_FORMAT": "json", "PARCELFLOW_DATABASE_APPLICATION_NAME": name}
    if pool:
        env["PARCELFLOW_DATABASE_POOL_SIZE"] = pool
    svc = make_service(postgres_url, clock=utcnow)
    runners = build_runners(svc, names)
    t0 = recent_start()
    svc.register([manifest(n) for n in range(1, 41)])
    follower = subprocess.Popen([sys.executable, "-m", "parcelflow", "project", "--follow",
                                 *names], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = []

    def caught_up() -> bool:
        head = svc.recorder.max_notification_id()
        seen.append(connections(postgres_url, name))
        return all(r.position == head for r in runners)

    try:
        wait_until(caught_up, timeout=60, what="the follower to start")
        # Work while it follows: batches of scans, each sampled for connections.
        for step in range(11):
            svc.ingest([journey(n, t0=t0)[step] for n in range(1, 41)])
            seen.append(connections(postgres_url, name))
            time.sleep(0.1)
        wait_until(caught_up, timeout=60, what="every read model to catch up")
    finally:
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=30)
        for r in runners:
            r.close()
    assert follower.returncode == 0, err.decode()[-2000:]
    assert max(seen) > 0  # the count does see the follower's connections
    assert max(seen) <= most, seen
