"""Only one process at a time: the relay holds a lock while it publishes.

Two relays publishing the same log would only duplicate messages (consumers deduplicate
by event id), but they would also race on the saved position; one at a time keeps the
topic in log order. A second relay waits for the lock and takes over when the first
one stops or dies.

- PostgreSQL: a session advisory lock on a connection of its own. The server releases
  it when that connection ends, so a killed relay cannot keep it.
- SQLite (the embedded default, one machine): an exclusive `flock` on a file beside the
  database, which the kernel releases when the process dies. An in-memory database
  belongs to one process anyway.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from typing import IO

import psycopg
import structlog

from parcelflow.adapters.store import is_postgres, sqlite_path

log = structlog.get_logger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderLock:
    def __init__(self, database_url: str, name: str, *, poll: float = 0.5):
        self.database_url = database_url
        self.name = name
        self.poll = poll
        self._conn: psycopg.Connection | None = None
        self._file: IO[bytes] | None = None

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for the lock; False if `stop` was set first."""
        waited = False
        while not stop.is_set():
            if self._try():
                if waited:
                    log.info("leader.acquired", lock=self.name)
                return True
            if not waited:
                log.info("leader.waiting", lock=self.name)
                waited = True
            stop.wait(self.poll)
        return False

    def _try(self) -> bool:
        if is_postgres(self.database_url):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.database_url, autocommit=True,
                                                 connect_timeout=5)
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                         [lock_key(self.name)]).fetchone()
                return bool(row and row[0])
            except psycopg.Error as e:
                log.warning("leader.lock_failed", lock=self.name, error=str(e))
                self._drop_connection()
                return False
        path = sqlite_path(self.database_url)
        if path.startswith("file:"):
            return True  # in-memory: nobody else can see this database
        if self._file is None:
            self._file = open(f"{path}.{self.name}.lock", "ab")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def held(self) -> bool:
        """Still ours? (A PostgreSQL lock is lost with its connection.)"""
        if self._conn is None:
            return self._file is not None or not is_postgres(self.database_url)
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self._drop_connection()
            return False

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def release(self) -> None:
        self._drop_connection()  # ends the session: the advisory lock goes with it
        if self._file is not None:
            try:
                fcntl.flock(self._file, fcntl.LOCK_UN)
            finally:
                self._file.close()
                self._file = None


__all__ = ["LeaderLock", "lock_key"]
