"""A projection process killed with SIGKILL mid-run, then restarted, ends with a view
identical to a full rebuild (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from parcelflow.projections.registry import runners as build_runners
from tests.support.builders import journey, manifest, recent_start
from tests.support.views import dump

PARCELS = 200


def start_projector(database_url: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": database_url,
           "PARCELFLOW_LOG_FORMAT": "json"}
    return subprocess.Popen([sys.executable, "-m", "parcelflow", "project", "--follow"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_projection_restarts_and_matches_a_rebuild(make_service, database_url, tmp_path):
    from parcelflow.application.service import utcnow

    svc = make_service(database_url, clock=utcnow)
    t0 = recent_start()
    svc.register([manifest(n) for n in range(1, PARCELS + 1)])
    runners = {r.name: r for r in build_runners(svc)}
    batches = [[journey(n, t0=t0)[step] for n in range(k, min(k + 50, PARCELS + 1))]
               for step in range(11) for k in range(1, PARCELS + 1, 50)]

    projector = start_projector(database_url, tmp_path)
    try:
        half = len(batches) // 2
        for batch in batches[:half]:
            svc.ingest(batch)
        wait_until(lambda: runners["tracking"].position > 0)
        for batch in batches[half:half + 4]:
            svc.ingest(batch)
        head = runners["tracking"].follower.head()
        projector.send_signal(signal.SIGKILL)  # no chance to finish a batch or clean up
        projector.wait(timeout=10)
        positions = {name: r.position for name, r in runners.items()}
        assert any(p < head for p in positions.values()), "killed after it had finished"
        for batch in batches[half + 4:]:
            svc.ingest(batch)
        projector = start_projector(database_url, tmp_path)
        head = runners["tracking"].follower.head()
        wait_until(lambda: all(r.position >= head for r in runners.values()))
    finally:
        projector.send_signal(signal.SIGTERM)
        projector.wait(timeout=20)

    after_crash = dump(runners)
    for r in runners.values():
        r.rebuild()
    assert dump(runners) == after_crash
    assert len(after_crash["tracking"]) == PARCELS
    assert {row["status"] for row in after_crash["tracking"]} == {"delivered"}
    for r in runners.values():
        r.close()
