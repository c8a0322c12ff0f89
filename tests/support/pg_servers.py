"""Throwaway PostgreSQL servers for the sharding tests (the machine's own binaries, other
ports; `parcelflow.entrypoints.local_postgres`), and fresh databases on them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import psycopg

from parcelflow.entrypoints.local_postgres import PostgresServer, postgres_servers


@contextmanager
def fresh_database(server: PostgresServer, prefix: str = "parcelflow_shard") -> Iterator[str]:
    name = f"{prefix}_{os.urandom(6).hex()}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.database_url(name)
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def shard_databases(servers: list[PostgresServer], count: int) -> Iterator[list[str]]:
    """A fresh database on each of the first `count` servers: one test's shards."""
    with ExitStack() as stack:
        yield [stack.enter_context(fresh_database(s)) for s in servers[:count]]


__all__ = ["PostgresServer", "fresh_database", "postgres_servers", "shard_databases"]
