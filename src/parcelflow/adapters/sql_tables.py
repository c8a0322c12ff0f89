"""Small tables of our own beside the events, in the same database (SQLite or PostgreSQL).

One SQL text serves both backends: written with `?` placeholders, converted for psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresDatastore
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random


class SqlTables:
    create_statements: tuple[str, ...] = ()

    def __init__(self, datastore: Any):
        self.datastore = datastore
        self.is_postgres = isinstance(datastore, PostgresDatastore)
        self._create()

    # Workers starting together all run CREATE TABLE IF NOT EXISTS; PostgreSQL can refuse
    # concurrent DDL on the same catalog rows ("tuple concurrently updated"): try again.
    @retry(retry=retry_if_exception_type(PersistenceError), stop=stop_after_attempt(8),
           wait=wait_random(0.05, 0.5), reraise=True)
    def _create(self) -> None:
        with self.transaction() as c:
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
