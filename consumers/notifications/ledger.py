"""The notification ledger: one row per (event, channel, recipient, kind) ever handled.

Its primary key is what makes a notification go out once: a worker looks up the keys of
a batch before sending and records what it did (sent, or given up on with the reason)
before it commits its offsets (Kafka) or saves its position (store), in the same
transaction as that position. Recipients are roles ("receiver", "merchant:<id>"), never
addresses: no personal data here.

Outcomes: `sent`; `failed` (given up on, and that is the end of it: dead-lettered, or
no dead-letter topic); `dead_letter_pending` (given up on, its dead letter not yet
acknowledged by the broker). The pending state is recorded as soon as a message is
given up on, before the dead letter is published: a batch tried again after the
publish failed (or after a crash) finds it, publishes the dead letter again and does
not send the message a second time. Once the broker has the dead letter it turns
`failed` (`dead_lettered`).

The kind: "" for the event's own message (status and exception rules share it: the first
matching rule's goes), "eta" for the news about its predicted delivery, which goes as
well. It is stored in the `event_id` column, as `<event id>#<kind>` where not "", so the
table and its primary key are those of before and every row written before kinds
existed still reads as the event's own message (kind ""): no migration.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from parcelflow.adapters.sql import in_chunks
from parcelflow.adapters.sql_tables import SqlTables

Key = tuple[str, str, str, str]  # (event_id, channel, recipient, kind)

SENT, FAILED, DEAD_LETTER_PENDING = "sent", "failed", "dead_letter_pending"


@dataclass(frozen=True)
class Entry:
    key: Key
    rule: str
    tracking_no: str
    outcome: str  # SENT | FAILED | DEAD_LETTER_PENDING
    reason: str | None = None


@dataclass(frozen=True)
class Recorded:
    outcome: str
    reason: str | None


def _stored(key: Key) -> list[str]:
    """The key as the table's (event_id, channel, recipient)."""
    event, channel, recipient, kind = key
    return [f"{event}#{kind}" if kind else event, channel, recipient]


def _key(row: dict[str, Any]) -> Key:
    event, _, kind = row["event_id"].partition("#")
    return (event, row["channel"], row["recipient"], kind)


class NotificationLedger(SqlTables):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS notification_ledger ("
        "event_id TEXT NOT NULL, channel TEXT NOT NULL, recipient TEXT NOT NULL, "
        "rule TEXT NOT NULL, tracking_no TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT, "
        "recorded_at TEXT NOT NULL, PRIMARY KEY (event_id, channel, recipient))",
    )

    def recorded(self, keys: Collection[Key]) -> dict[Key, Recorded]:
        """The outcome (and reason) of each key already in the ledger."""
        wanted = set(keys)
        events = sorted({_stored(k)[0] for k in wanted})
        found: dict[Key, str] = {}
        for marks, chunk in in_chunks(events):
            for row in self.query(
                    "SELECT event_id, channel, recipient, outcome, reason "
                    "FROM notification_ledger "
                    f"WHERE event_id IN ({marks})", chunk):
                key = _key(row)
                if key in wanted:
                    found[key] = Recorded(row["outcome"], row["reason"])
        return found

    def record(self, entries: Sequence[Entry], cursor: Any | None = None) -> None:
        """Add entries (a key already there is left as it is)."""
        if not entries:
            return
        now = datetime.now(timezone.utc).isoformat()
        statement = self.sql(
            "INSERT INTO notification_ledger (event_id, channel, recipient, rule, tracking_no, "
            "outcome, reason, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (event_id, channel, recipient) DO NOTHING")
        rows = [[*_stored(e.key), e.rule, e.tracking_no, e.outcome, e.reason, now] for e in entries]
        if cursor is not None:
            cursor.executemany(statement, rows)
            return
        with self.transaction() as c:
            c.executemany(statement, rows)

    def dead_lettered(self, keys: Collection[Key]) -> None:
        """The broker has these given-up messages' dead letters: pending turns failed."""
        if not keys:
            return
        statement = self.sql(
            f"UPDATE notification_ledger SET outcome = '{FAILED}' WHERE event_id = ? AND "
            f"channel = ? AND recipient = ? AND outcome = '{DEAD_LETTER_PENDING}'")
        with self.transaction() as c:
            c.executemany(statement, [_stored(k) for k in keys])

    def count(self, *, tracking_no: str | None = None, channel: str | None = None,
              outcome: str | None = None) -> int:
        where, params = [], []
        for column, value in (("tracking_no", tracking_no), ("channel", channel),
                              ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return int(self.query(f"SELECT COUNT(*) AS n FROM notification_ledger{clause}",
                              params)[0]["n"])
