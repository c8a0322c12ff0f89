"""Small tables of our own beside the events, in the same database (SQLite or PostgreSQL).

One SQL text serves both backends: written with `?` placeholders, converted for psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from parcelflow.adapters.store import datastore_schema_lock


class SqlTables:
    create_statements: tuple[str, ...] = ()

    def __init__(self, datastore: Any):
        if not isinstance(datastore, (SQLiteDatastore, PostgresDatastore)):
            raise TypeError(f"no tables on {type(datastore).__name__}")
        self.datastore = datastore
        self.is_postgres = isinstance(datastore, PostgresDatastore)
        self._create()

    def _create(self) -> None:
        # Workers starting together all create their tables: one at a time (concurrent
        # DDL on one object fails in PostgreSQL; see adapters.store.schema_lock).
        with datastore_schema_lock(self.datastore), self.transaction() as c:
            for statement in self.create_statements:
                c.execute(statement)

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor whose statements commit together (or not at all)."""
        with self.datastore.transaction(commit=True) as c:
            yield c

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
