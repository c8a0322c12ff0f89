"""`parcelflow serve` as an operator runs it: a real process on a free loopback port."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PARCELFLOW = [sys.executable, "-m", "parcelflow"]


def serve_env(db: str) -> dict[str, str]:
    return {**os.environ, "PARCELFLOW_DATABASE_URL": db, "PARCELFLOW_LOG_FORMAT": "json"}


def free_port() -> int:
    """A loopback port free now, for a child process to bind later (see `free_ports`)."""
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of `count` consecutive loopback ports free now, for a child process to
    bind later. Taken from below the kernel's ephemeral range: inside it, any outgoing
    connection of any process may take one of them as its local end meanwhile (Linux
    gives connect() the even ones, so a run of ports always holds some)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral = int(f.read().split()[0])
    except OSError:
        ephemeral = 32768
    while True:
        first = random.randrange(10_000, ephemeral - count)
        if all(_bindable(first + k) for k in range(count)):
            return first


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def serving(workdir: Path, db: str, **env: str) -> Iterator[tuple[str, int, Path]]:
    """`parcelflow serve` on a free port; yields its base URL, port and log path."""
    port = free_port()
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([*PARCELFLOW, "serve", "--port", str(port)], cwd=workdir,
                                  env={**serve_env(db), **env}, stdout=log,
                                  stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
            time.sleep(0.2)
        yield base, port, log_path
    finally:
        server.terminate()
        server.wait(timeout=20)
