"""Throwaway PostgreSQL servers on other ports, from the machine's own binaries: the
shards of `parcelflow dev --shards N`, and of the sharding tests (tests/support/pg_servers.py).

`initdb` refuses to run as root, so as root the binaries run as the `postgres` user
(`runuser`), in a temporary directory it owns; as anyone else they run as that user.
Each server listens on 127.0.0.1 only, trusts local connections and keeps its socket
in its own directory. A server takes about a second to start; `stop()` shuts it down
and removes its files: nothing in it is kept.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg


def bindir() -> Path:
    """The binaries' folder, as `pg_config` says (no version hard-coded)."""
    try:
        out = subprocess.run(["pg_config", "--bindir"], check=True, capture_output=True,
                             text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError("PostgreSQL's binaries are required (pg_config not found)") from e
    path = Path(out)
    if not (path / "initdb").exists():
        raise RuntimeError(f"no initdb in {path}: install the PostgreSQL server package")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @classmethod
    def start(cls) -> PostgresServer:
        root = Path(tempfile.mkdtemp(prefix="parcelflow-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        server = cls(root, free_port())
        bins = bindir()
        subprocess.run(_as_owner([str(bins / "initdb"), "-D", str(root / "data"), "-A", "trust",
                                  "-U", "postgres", "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True)
        # fsync off: a test server's files are thrown away, and the 2 shared cores are
        # better spent elsewhere. max_connections: pools of several services per test.
        options = (f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        subprocess.run(_as_owner([str(bins / "pg_ctl"), "-D", str(root / "data"),
                                  "-l", str(root / "log"), "-o", options, "-w", "start"]),
                       check=True, capture_output=True)
        server.wait()
        return server

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL on port {self.port} did not start; "
                                       f"see {self.root / 'log'}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(_as_owner([str(bindir() / "pg_ctl"), "-D", str(self.root / "data"),
                                  "stop", "-m", "immediate"]), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_servers(count: int) -> Iterator[list[PostgresServer]]:
    """`count` servers, started side by side (about a second), stopped afterwards."""
    with ExitStack() as stack:
        servers = []
        for _ in range(count):
            server = PostgresServer.start()
            stack.callback(server.stop)
            servers.append(server)
        yield servers


