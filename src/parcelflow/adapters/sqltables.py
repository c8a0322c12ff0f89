"""Small tables of our own beside the events, on whichever database the store uses.

The event store's datastore (SQLite or PostgreSQL) hands out connections and
transactions; these helpers run one SQL text on both, written with `?` placeholders and
converted for psycopg. Times are epoch seconds (DOUBLE PRECISION), which compare the
same way in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore


class SqlTables:
    create_statements: tuple[str, ...] = ()

    def __init__(self, datastore: SQLiteDatastore | PostgresDatastore):
        if not isinstance(datastore, (SQLiteDatastore, PostgresDatastore)):
            raise TypeError(f"no tables on {type(datastore).__name__}")
        self.datastore = datastore
        self.is_postgres = isinstance(datastore, PostgresDatastore)
        with datastore.transaction(commit=True) as c:
            for statement in self.create_statements:
                c.execute(self.sql(statement))

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql(statement), list(params))
            return [dict(row) for row in c.fetchall()]

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql(statement), list(params))
            if self.is_postgres:
                return int(c.rowcount)
            c.execute("SELECT changes()")  # the library's SQLite cursor has no rowcount
            return int(c.fetchone()[0])
