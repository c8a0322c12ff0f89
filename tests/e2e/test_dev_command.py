"""`parcelflow dev` as a developer uses it: a local broker and every worker; scans
published with `parcelflow publish-scans` end up tracked and emailed; Ctrl-C (SIGINT)
stops everything it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.builders import journey, manifest, on_time, recent_start, tracking
from tests.support.serving import PARCELFLOW, free_ports


def answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def scrape(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def worker_logs(workdir: Path) -> dict[str, str]:
    """The end of each log `dev` keeps, for a failure's message."""
    return {p.name: p.read_text(errors="replace")[-3000:] for p in workdir.glob("*.log")}


def test_dev_runs_the_pipeline_locally_and_stops_cleanly(tmp_path: Path):
    port = free_ports(1)  # the broker's
    metrics = free_ports(4)  # ingest-worker, relay, project, notify: one port each
    db = f"sqlite:///{tmp_path / 'dev' / 'parcelflow.db'}"
    env = {**os.environ, "PARCELFLOW_LOG_FORMAT": "json", "PARCELFLOW_DATABASE_URL": db,
           "PARCELFLOW_METRICS_PORT": str(metrics), "PARCELFLOW_METRICS_HOST": "127.0.0.1"}
    env.pop("PARCELFLOW_SMTP_URL", None)
    dev = subprocess.Popen([*PARCELFLOW, "dev", "--workdir", str(tmp_path / "dev"),
                            "--port", str(port)], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = {**env, "PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
              "PARCELFLOW_KAFKA_IDEMPOTENCE": "false"}
    try:
        deadline = time.monotonic() + 30
        while not answers(port):
            assert dev.poll() is None and time.monotonic() < deadline, "no broker"
            time.sleep(0.2)
        (tmp_path / "m.jsonl").write_text(json.dumps(on_time(1)) + "\n")
        (tmp_path / "s.jsonl").write_text("".join(json.dumps(s) + "\n"
                                                  for s in journey(1, t0=recent_start())))
        run = lambda *args: subprocess.run([*PARCELFLOW, *args], cwd=tmp_path, env=client,  # noqa: E731
                                           capture_output=True, text=True, timeout=60)
        assert run("register", "m.jsonl").returncode == 0
        published = run("publish-scans", "s.jsonl")
        assert published.returncode == 0, published.stderr
        assert "published 11 scans" in published.stdout
        mail = tmp_path / "dev" / "mail"
        deadline = time.monotonic() + 60
        while len(list(mail.glob("*.eml"))) < 3:  # picked up, out for delivery, delivered
            assert time.monotonic() < deadline, (list(mail.glob("*")), dev.poll(),
                                                 worker_logs(tmp_path / "dev"))
            time.sleep(0.2)
        tracked = run("track", tracking(1), "--json")
        assert json.loads(tracked.stdout)["status"] == "delivered"
        # Each worker counts what it did itself, on its own port.
        assert "parcelflow_scans_accepted_total 11.0" in scrape(metrics)
        assert 'parcelflow_notifications_sent_total{channel="email"} 3.0' in scrape(metrics + 3)
    finally:
        dev.send_signal(signal.SIGINT)
        out, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, out
    assert not answers(port), "the broker is still running"
    assert "publish-scans" in out


def test_dev_with_three_shards_tracks_parcels_from_every_shard_and_stops_its_servers(
        tmp_path: Path):
    from parcelflow.domain.buckets import bucket_of, even_layout

    port = free_ports(1)  # the broker's
    env = {**os.environ, "PARCELFLOW_LOG_FORMAT": "json"}
    for name in ("PARCELFLOW_SMTP_URL", "PARCELFLOW_DATABASE_URL", "PARCELFLOW_SHARDS",
                 "PARCELFLOW_METRICS_PORT"):
        env.pop(name, None)
    dev = subprocess.Popen([*PARCELFLOW, "dev", "--workdir", str(tmp_path / "dev"),
                            "--port", str(port), "--shards", "3"], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    numbers = range(1, 10)
    assert {even_layout(3)[bucket_of(tracking(n))] for n in numbers} == {0, 1, 2}
    urls: list[str] = []
    try:
        assert dev.stdout is not None
        for line in dev.stdout:
            if "PostgreSQL servers for the shards:" in line:
                urls = line.split(":", 1)[1].strip().split(", ")
                break
        assert len(urls) == 3, urls
        deadline = time.monotonic() + 30
        while not answers(port):
            assert dev.poll() is None and time.monotonic() < deadline, "no broker"
            time.sleep(0.2)
        client = {**env, "PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
                  "PARCELFLOW_KAFKA_IDEMPOTENCE": "false", "PARCELFLOW_SHARDS": json.dumps(urls)}
        (tmp_path / "m.jsonl").write_text("".join(json.dumps(manifest(n)) + "\n"
                                                  for n in numbers))
        (tmp_path / "s.jsonl").write_text("".join(
            json.dumps(s) + "\n" for n in numbers for s in journey(n, t0=recent_start())))
        run = lambda *args: subprocess.run([*PARCELFLOW, *args], cwd=tmp_path, env=client,  # noqa: E731
                                           capture_output=True, text=True, timeout=60)
        assert run("register", "m.jsonl").returncode == 0
        published = run("publish-scans", "s.jsonl")
        assert published.returncode == 0, published.stderr
        deadline = time.monotonic() + 90
        for n in numbers:
            while True:
                tracked = run("track", tracking(n), "--json")
                if tracked.returncode == 0 and json.loads(tracked.stdout)["status"] == "delivered":
                    break
                assert time.monotonic() < deadline, (n, tracked.stdout, tracked.stderr)
                time.sleep(0.5)
    finally:
        dev.send_signal(signal.SIGINT)
        out, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, out
    assert not any(answers(int(u.rsplit(":", 1)[1].split("/")[0])) for u in urls)


def test_dev_names_a_worker_that_stops_by_itself_shows_why_and_fails(tmp_path: Path):
    """A worker that cannot start (here: its metrics port is taken) stops `dev` with the
    worker's name, its exit code and the end of its log, and a non-zero exit code."""
    port = free_ports(1)  # the broker's
    env = {**os.environ, "PARCELFLOW_LOG_FORMAT": "json",
           "PARCELFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'dev' / 'parcelflow.db'}"}
    env.pop("PARCELFLOW_SMTP_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["PARCELFLOW_METRICS_PORT"] = str(taken.getsockname()[1])  # the ingest-worker's
        env["PARCELFLOW_METRICS_HOST"] = "127.0.0.1"
        dev = subprocess.run([*PARCELFLOW, "dev", "--workdir", str(tmp_path / "dev"),
                              "--port", str(port)], check=False, cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=90)
    assert dev.returncode == 1, dev.stderr
    assert "ingest-worker stopped by itself (exit code 1)" in dev.stderr
    # The worker's own words, from its log: what it could not do, and the setting to change.
    assert (f"cannot serve its metrics on 127.0.0.1:{env['PARCELFLOW_METRICS_PORT']} "
            "(PARCELFLOW_METRICS_HOST, PARCELFLOW_METRICS_PORT): Address already in use"
            ) in dev.stderr
    assert not answers(port), "the broker is still running"


def test_ctrl_c_at_a_terminal_stops_dev_and_its_workers_cleanly(tmp_path: Path):
    """Ctrl-C at a terminal sends SIGINT to dev and to every worker it started (one
    process group): that is a stop, reported as one (exit code 0), with no worker
    named as having stopped by itself and nothing left running."""
    port = free_ports(1)  # the broker's
    env = {**os.environ, "PARCELFLOW_LOG_FORMAT": "json",
           "PARCELFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'dev' / 'parcelflow.db'}"}
    for name in ("PARCELFLOW_SMTP_URL", "PARCELFLOW_METRICS_PORT"):
        env.pop(name, None)
    dev = subprocess.Popen([*PARCELFLOW, "dev", "--workdir", str(tmp_path / "dev"),
                            "--port", str(port)], cwd=tmp_path, env=env,
                           start_new_session=True,  # its own group, as a terminal's job
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert dev.stdout is not None
        for line in dev.stdout:
            if line.startswith("workers:"):
                break
        time.sleep(3)  # the workers past their start
        assert dev.poll() is None
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        out, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, out
    assert "stopped by itself" not in out
    assert not answers(port), "the broker is still running"
