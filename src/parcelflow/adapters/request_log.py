"""What the API remembers about requests: idempotent answers and seen signatures.

Both live in the database, not in a process, so a retry or a replay is recognised
whichever API replica it reaches.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from parcelflow.adapters.sql_tables import SqlTables

_PURGE_EVERY = 200  # calls between purges of expired rows (and on the first)


@dataclass(frozen=True)
class StoredAnswer:
    request_hash: str
    status: int
    body: str
    position: int | None


class RequestLog(SqlTables):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS api_idempotency ("
        "principal TEXT NOT NULL, idempotency_key TEXT NOT NULL, request_hash TEXT NOT NULL, "
        "status INTEGER NOT NULL, body TEXT NOT NULL, position BIGINT, "
        "created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (principal, idempotency_key))",
        "CREATE INDEX IF NOT EXISTS api_idempotency_age ON api_idempotency (created_at)",
        "CREATE TABLE IF NOT EXISTS api_signatures ("
        "signature TEXT PRIMARY KEY, seen_at DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX IF NOT EXISTS api_signatures_age ON api_signatures (seen_at)",
    )

    def __init__(self, datastore: Any, *, idempotency_ttl: float, signature_ttl: float):
        super().__init__(datastore)
        self.idempotency_ttl = idempotency_ttl
        self.signature_ttl = signature_ttl
        self._calls = itertools.count()

    def _maybe_purge(self) -> None:
        if next(self._calls) % _PURGE_EVERY:
            return
        now = time.time()
        self.execute("DELETE FROM api_idempotency WHERE created_at < ?",
                     [now - self.idempotency_ttl])
        self.execute("DELETE FROM api_signatures WHERE seen_at < ?", [now - self.signature_ttl])

    # ---- Idempotency-Key --------------------------------------------------------------

    def answer(self, principal: str, key: str) -> StoredAnswer | None:
        rows = self.query(
            "SELECT request_hash, status, body, position FROM api_idempotency "
            "WHERE principal = ? AND idempotency_key = ? AND created_at >= ?",
            [principal, key, time.time() - self.idempotency_ttl])
        if not rows:
            return None
        r = rows[0]
        return StoredAnswer(r["request_hash"], r["status"], r["body"], r["position"])

    def remember(self, principal: str, key: str, answer: StoredAnswer) -> StoredAnswer:
        """Keep an answer; if a concurrent twin got there first, theirs is the answer."""
        self._maybe_purge()
        now = time.time()
        # An expired answer not purged yet is replaced; a live one is kept.
        added = self.execute(
            "INSERT INTO api_idempotency VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (principal, idempotency_key) DO UPDATE SET "
            "request_hash = excluded.request_hash, status = excluded.status, "
            "body = excluded.body, position = excluded.position, "
            "created_at = excluded.created_at WHERE api_idempotency.created_at < ?",
            [principal, key, answer.request_hash, answer.status, answer.body, answer.position,
             now, now - self.idempotency_ttl])
        if added:
            return answer
        return self.answer(principal, key) or answer

    # ---- signed requests -------------------------------------------------------------

    def first_sight(self, signature: str) -> bool:
        """Record a signature; False when it was seen before (a replay)."""
        self._maybe_purge()
        return self.execute(
            "INSERT INTO api_signatures VALUES (?, ?) ON CONFLICT (signature) DO NOTHING",
            [signature, time.time()]) > 0
