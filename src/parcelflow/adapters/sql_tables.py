"""Small tables of our own beside the events, in the same database (SQLite or PostgreSQL).

One SQL text serves both backends (`adapters.sql.PortableSql`).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from parcelflow.adapters.sql import PortableSql
from parcelflow.adapters.store import datastore_schema_lock


class SqlTables(PortableSql):
    create_statements: tuple[str, ...] = ()

    def __init__(self, datastore: Any):
        if not isinstance(datastore, (SQLiteDatastore, PostgresDatastore)):
            raise TypeError(f"no tables on {type(datastore).__name__}")
        self.datastore = datastore
        # Workers starting together all create their tables: one at a time (concurrent
        # DDL on one object fails in PostgreSQL; see adapters.store.schema_lock).
        with datastore_schema_lock(self.datastore):
            self._create()

    def _create(self) -> None:
        """Create the tables (under the schema lock); a subclass upgrades older ones here."""
        self.run_all(self.create_statements)
