"""Staff console sessions, kept in the database beside the credentials they stand on.

A session is opened with a staff token and then named by a random session id the browser
holds in a cookie; only the SHA-256 of the id is stored (like the credentials' secrets:
256 random bits need no slow hash). Kept in the database rather than in a process, so a
session is the same on every `serve` worker, and signing out ends it everywhere at once.
Each session has its own CSRF token, which the console's forms send back.

A session ends after `idle` seconds without a request. `last_seen` is written at most
every `touch_every` seconds, so a queue refreshing itself every few seconds costs one
UPDATE per interval, not one per request.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

from parcelflow.adapters.sql_tables import SqlTables

_PURGE_EVERY = 200  # sessions opened between purges of idle ones


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class StaffSession:
    key_id: str  # the staff credential it was opened with
    csrf_token: str
    started_at: float
    last_seen: float


class StaffSessions(SqlTables):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS console_sessions ("
        "session_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, csrf_token TEXT NOT NULL, "
        "started_at DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX IF NOT EXISTS console_sessions_seen ON console_sessions (last_seen)",
    )

    def __init__(self, datastore: Any, *, idle: float, touch_every: float = 10.0):
        super().__init__(datastore)
        self.idle = idle
        self.touch_every = min(touch_every, idle / 2)
        self._opened = itertools.count()

    def start(self, key_id: str) -> tuple[str, StaffSession]:
        """A new session for this credential: its id (for the cookie, shown once) and it."""
        if not next(self._opened) % _PURGE_EVERY:
            self.execute("DELETE FROM console_sessions WHERE last_seen < ?",
                         [time.time() - self.idle])
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        session = StaffSession(key_id, secrets.token_urlsafe(32), now, now)
        self.execute("INSERT INTO console_sessions VALUES (?, ?, ?, ?, ?)",
                     [_digest(session_id), key_id, session.csrf_token, now, now])
        return session_id, session

    def find(self, session_id: str) -> StaffSession | None:
        """The live session with this id (and it is seen now), or None when unknown,
        ended or idle for too long (then it is ended)."""
        digest = _digest(session_id)
        rows = self.query("SELECT * FROM console_sessions WHERE session_hash = ?", [digest])
        if not rows:
            return None
        r = rows[0]
        now = time.time()
        if now - r["last_seen"] > self.idle:
            self.execute("DELETE FROM console_sessions WHERE session_hash = ?", [digest])
            return None
        if now - r["last_seen"] >= self.touch_every:
            self.execute("UPDATE console_sessions SET last_seen = ? WHERE session_hash = ?",
                         [now, digest])
        return StaffSession(r["key_id"], r["csrf_token"], r["started_at"], now)

    def end(self, session_id: str) -> None:
        self.execute("DELETE FROM console_sessions WHERE session_hash = ?", [_digest(session_id)])
