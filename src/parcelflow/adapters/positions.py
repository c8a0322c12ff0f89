"""Where a store follower got to in the notification log: one row per follower.

The relay saves its position only after the broker acknowledged everything up to it;
the store-following notification worker saves it in the same transaction as its
ledger rows. A position never moves back: a slower process that saves an older one
(after losing a race it did not know about) leaves the newer one standing.
"""

from __future__ import annotations

from typing import Any

from parcelflow.adapters.sql_tables import SqlTables


RELAY = "relay"  # the relay's saved position: the last event published to Kafka


class PositionStore(SqlTables):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS follower_positions ("
        "name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    )

    def get(self, name: str) -> int:
        rows = self.query("SELECT position FROM follower_positions WHERE name = ?", [name])
        return int(rows[0]["position"]) if rows else 0

    def save(self, name: str, position: int, cursor: Any | None = None) -> None:
        """Record `position` (inside the caller's transaction when given its cursor)."""
        statement = self.sql(
            "INSERT INTO follower_positions (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position "
            "WHERE follower_positions.position < excluded.position")
        if cursor is not None:
            cursor.execute(statement, [name, position])
            return
        with self.transaction() as c:
            c.execute(statement, [name, position])
