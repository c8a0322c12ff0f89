"""One SQL text for both backends, and IN lists cut to a size SQLite binds.

Our own tables (request log, credentials, positions, the notification ledger) and the read
models' stores run the same statements on SQLite and PostgreSQL: written with `?`
placeholders, converted for psycopg, rows read back as dicts. Each class that does so
mixes in `PortableSql` over its eventsourcing `datastore`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

T = TypeVar("T")

# Values bound in one `IN (...)`: far below SQLite's limit on bound parameters (999
# before 3.32, 32,766 since), and a statement size that still plans quickly.
IN_CHUNK = 500


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[tuple[str, list[T]]]:
    """`values` in slices of at most `size`, each with its `?, ?, ...` for an `IN (...)`."""
    for start in range(0, len(values), size):
        chunk = list(values[start:start + size])
        yield ", ".join("?" * len(chunk)), chunk


class PortableSql:
    """Statements written once with `?` placeholders, run on either backend's datastore."""

    datastore: SQLiteDatastore | PostgresDatastore

    @property
    def is_postgres(self) -> bool:
        return isinstance(self.datastore, PostgresDatastore)

    def sql(self, statement: str) -> str:
        """The statement in the backend's placeholder style (psycopg: `%s`)."""
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

    def run_all(self, statements: Sequence[str]) -> None:
        """Statements without parameters (tables, indexes), in one transaction."""
        with self.transaction() as c:
            for statement in statements:
                c.execute(self.sql(statement))
