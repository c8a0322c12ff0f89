"""The event store: eventsourcing's SQLite and PostgreSQL recorders, plus the batch reads
of the application's ParcelRecorder port (`application/ports.py`).

The library reads one aggregate per query. Ingesting a batch touches hundreds of
parcels, and a thousand round trips cost more than saving them, so these recorders add
one query that loads many parcels' events at once, and one that reads many parcels'
current versions (to find which parcels of a failed batch actually conflicted).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder
import psycopg
import structlog
from eventsourcing.utils import retry
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from parcelflow.adapters import bucket_fence
from parcelflow.adapters.sql import in_chunks
from parcelflow.adapters.transcoder import stored_event
from parcelflow.application.ports import ParcelRecorder

log = structlog.get_logger(__name__)


class SQLiteParcelRecorder(SQLiteApplicationRecorder, ParcelRecorder):
    def select_events_for(self, ids: Collection[UUID],
                          upto: int | None = None) -> dict[UUID, list[StoredEvent]]:
        found: dict[UUID, list[StoredEvent]] = defaultdict(list)
        keys = [i.hex for i in ids]
        limit = "" if upto is None else f" AND rowid <= {int(upto)}"
        with self.datastore.transaction(commit=False) as c:
            for marks, chunk in in_chunks(keys):
                c.execute(
                    f"SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE originator_id IN ({marks}){limit} "
                    f"ORDER BY originator_id, originator_version",
                    chunk,
                )
                for row in c.fetchall():
                    pid = UUID(row["originator_id"])
                    found[pid].append(
                        StoredEvent(pid, row["originator_version"], row["topic"], row["state"])
                    )
        return found

    def max_versions(self, ids: Collection[UUID]) -> dict[UUID, int]:
        keys = [i.hex for i in ids]
        versions: dict[UUID, int] = {}
        with self.datastore.transaction(commit=False) as c:
            for marks, chunk in in_chunks(keys):
                c.execute(
                    f"SELECT originator_id, MAX(originator_version) AS v "
                    f"FROM {self.events_table_name} WHERE originator_id IN ({marks}) "
                    f"GROUP BY originator_id",
                    chunk,
                )
                versions.update({UUID(r["originator_id"]): r["v"] for r in c.fetchall()})
        return versions


    def count_after(self, position: int) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT COUNT(*) FROM {self.events_table_name} WHERE rowid > ?",
                      (position,))
            return int(c.fetchone()[0])

    def parcel_ids(self, upto: int) -> list[UUID]:
        with self.datastore.transaction(commit=False) as c:
            # A parcel's first event (version 1) is its first in the log: see the
            # PostgreSQL recorder's.
            c.execute(f"SELECT originator_id FROM {self.events_table_name} "
                      f"WHERE originator_version = 1 AND rowid <= ?", (upto,))
            return [UUID(row[0]) for row in c.fetchall()]


class PostgresParcelRecorder(PostgresApplicationRecorder, ParcelRecorder):
    COPY_FROM = 64  # events in one insert from which COPY pays for its extra round trips

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        # The fence against stale shard maps and the ranges a bucket move copied in
        # (adapters/bucket_fence.py): beside every events table, so each write can ask.
        self.sql_create_statements.extend(SQL(s) for s in bucket_fence.CREATE)  # type: ignore[arg-type]
        table = self._table()
        self._copy = SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        self._max_id = SQL("SELECT COALESCE(MAX(notification_id), 0) AS n FROM {}").format(table)
        self._ids_after = SQL(
            "SELECT notification_id FROM {} WHERE notification_id > %s ORDER BY notification_id"
        ).format(table)

    def _table(self) -> SQL:
        return SQL("{}.{}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        """The library's hook, first in every insert's transaction (both paths below):
        refuse parcels whose bucket this shard gave away (adapters/bucket_fence.py)."""
        super()._insert_events(curs, stored_events, **kwargs)
        # The ids as they come (check_owned keeps each bucket once): a set of them would
        # hash every UUID, a Python method (~1,000 instructions an event).
        bucket_fence.check_owned(curs, [e.originator_id for e in stored_events])  # type: ignore[misc]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert with COPY instead of the library's INSERT of a composite array.

        Measured here at 1000 events a transaction: INSERT ... unnest() ~22k rows/s,
        binary COPY ~84k rows/s. What the library's insert guarantees is kept: the same
        table lock is taken first, so commit order equals notification-id order and a
        log follower never passes a gap that fills in later; the channel is notified;
        a duplicate (originator_id, version) fails the whole transaction with an
        IntegrityError, which is how concurrent writers find their conflicts.
        """
        if not stored_events:
            return []
        if len(stored_events) < self.COPY_FROM:
            # A few events: the library's one pipelined INSERT is one round trip; COPY
            # and reading the ids back are five.
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)  # the library's hook
            self._lock_table(curs)
            self._notify_channel(curs)
            curs.execute(self._max_id)
            before = curs.fetchone()["n"]  # type: ignore[index]
            with curs.copy(self._copy) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored_events:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
            # Under the table lock only this transaction adds rows, so the ids above the
            # old maximum are exactly ours, in the order they were copied. They are
            # consecutive when the new maximum is `before + n` (n distinct ids above
            # `before` can span no less); then one number is read instead of 1,000 rows
            # (~2 us a scan of the warm ingest). Otherwise (a gap in the sequence) they
            # are read back.
            curs.execute(self._max_id)
            after = curs.fetchone()["n"]  # type: ignore[index]
            if after - before == len(stored_events):
                ids = list(range(before + 1, after + 1))
            else:
                curs.execute(self._ids_after, (before,))
                ids = [row["notification_id"] for row in curs.fetchall()]
        if len(ids) != len(stored_events):
            raise ProgrammingError(f"expected {len(stored_events)} notification ids, got {len(ids)}")
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None,
        topics: Sequence[str] = (), *, inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's query, with rows read as tuples in binary: a dict per row and
        hex-decoded bytea were a fifth of a projection rebuild's time."""
        where, params = [], []
        if start is not None:
            where.append("notification_id >= %s" if inclusive_of_start else "notification_id > %s")
            params.append(start)
        if stop is not None:
            where.append("notification_id <= %s")
            params.append(stop)
        if topics:
            where.append("topic = ANY(%s)")
            params.append(list(topics))
        params.append(limit)
        query = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY notification_id LIMIT %s"
        ).format(self._table())
        # Binary results: bytea arrives as bytes, not as hex text to decode (7 -> 3 us/row).
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, params, prepare=True)
            return [Notification(id=n, originator_id=o, originator_version=v, topic=t, state=s)
                    for n, o, v, t, s in curs.fetchall()]

    def select_events_for(self, ids: Collection[UUID],
                          upto: int | None = None) -> dict[UUID, list[StoredEvent]]:
        """Every event of these parcels, in version order; with `upto`, those at or before
        that log position.

        The position is compared here, not in SQL. A bound in the WHERE clause, even one
        every row meets, lets the planner choose the notification_id index: with the
        table not analysed (a log just loaded, or autovacuum off) it read every row up to
        the bound and sorted them on disk, 49-96 ms for 1,000 parcels of 15,000 (112,000
        events), where the primary key's index scan takes 13 ms and returns them in
        order (EXPLAIN ANALYZE; analysed, its choice was a parallel sequential scan, 29
        ms)."""
        found: dict[UUID, list[StoredEvent]] = defaultdict(list)
        query = SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id FROM {} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(self._table())
        last = upto if upto is not None else 2**62
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, (list(ids),))
            # The rows come parcel by parcel (ORDER BY originator_id): a parcel's list is
            # found at its first row, the next rows compared by their ids' ints.
            # `UUID.__hash__` and `__eq__` are Python: a look-up a row was a quarter of
            # this loop's CPU (0.055 of 0.22 s for 149,345 rows), which a rebuild's
            # reader and a cold batch run for every event they read.
            key, events = None, []
            for pid, version, topic, state, position in curs.fetchall():
                if position <= last:
                    if pid.int != key:
                        key = pid.int
                        events = found[pid]
                    events.append(stored_event(pid, version, topic, state))
        return found

    def select_events_in(self, versions: Mapping[UUID, range]) -> dict[UUID, list[StoredEvent]]:
        """Only the rows in each parcel's range of versions, in one query: a range scan of
        the primary key's index per parcel (the lateral join keeps the planner to that,
        analysed or not), so a follower that keeps its parcels folded does not read and
        build every stored event of each touched parcel again for the one that is new."""
        found: dict[UUID, list[StoredEvent]] = defaultdict(list)
        query = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) AS w(id, first, stop) "
            "CROSS JOIN LATERAL (SELECT originator_id, originator_version, topic, state "
            "FROM {} WHERE originator_id = w.id AND originator_version >= w.first "
            "AND originator_version < w.stop ORDER BY originator_version) AS e "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(self._table())
        for r in versions.values():
            if r.step != 1:
                raise ValueError("select_events_in takes ranges of step 1")
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, (list(versions), [r.start for r in versions.values()],
                                 [r.stop for r in versions.values()]))
            for pid, version, topic, state in curs.fetchall():
                found[pid].append(stored_event(pid, version, topic, state))
        return found

    def parcel_ids(self, upto: int) -> list[UUID]:
        """Read as the parcels whose first event (version 1: the library's first, and a
        bucket move copies a parcel's events in log order) is at or before `upto`: no
        `DISTINCT` over every event. 36 against 114 ms for 20,000 parcels of 149,345
        events (EXPLAIN ANALYZE), where a rebuild waits for it before its first read."""
        query = SQL("SELECT originator_id FROM {} "
                    "WHERE originator_version = 1 AND notification_id <= %s").format(
            self._table())
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, (upto,))
            return [row[0] for row in curs.fetchall()]

    def count_after(self, position: int) -> int:
        query = SQL("SELECT COUNT(*) AS n FROM {} WHERE notification_id > %s").format(
            self._table())
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (position,))
            return int(curs.fetchone()["n"])  # type: ignore[index]

    def max_versions(self, ids: Collection[UUID]) -> dict[UUID, int]:
        query = SQL(
            "SELECT originator_id, MAX(originator_version) AS v FROM {} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(self._table())
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (list(ids),))
            return {row["originator_id"]: row["v"] for row in curs.fetchall()}


# Any fixed key: the processes of one database agree on it.
SCHEMA_LOCK = 0x70617263656C  # "parcel"


@contextmanager
def schema_lock(database_url: str) -> Iterator[None]:
    """Hold a cross-process lock while creating tables (PostgreSQL).

    Every parcelflow process creates what it needs at start-up ("IF NOT EXISTS"), and
    workers start together. PostgreSQL does not make concurrent DDL on one object safe:
    two sessions creating the same table or replacing the same function at once can
    fail ("duplicate key ... pg_type", "tuple concurrently updated"). SQLite serialises
    DDL by its file lock already.
    """
    if not is_postgres(database_url):
        yield
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


@contextmanager
def datastore_schema_lock(datastore: Any) -> Iterator[None]:
    """`schema_lock` for code that already holds the library's datastore."""
    if not isinstance(datastore, PostgresDatastore):
        yield
        return
    with datastore.get_connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgresql:", "postgres:"))


def sqlite_path(database_url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////absolute.db`, or `sqlite:///:memory:`."""
    if not database_url.startswith("sqlite:///"):
        raise ValueError(
            f"unsupported database URL {database_url.split('@')[-1]!r}: "
            "use sqlite:///path or postgresql://user@host:port/db"
        )
    path = database_url.removeprefix("sqlite:///")
    if path in ("", ":memory:"):
        # One shared in-memory database for every connection of this process.
        return "file:parcelflow-memory?mode=memory&cache=shared"
    return path


_COMMON = {"TRANSCODER_TOPIC": "parcelflow.adapters.transcoder:OrjsonTranscoder",
           "MAPPER_TOPIC": "parcelflow.adapters.transcoder:ParcelMapper"}


@dataclass(frozen=True)
class Pool:
    """A process's PostgreSQL connections: `size` kept open, up to `overflow` more under
    load (closed again when idle), every one named `application_name` in
    pg_stat_activity."""

    size: int = 4
    overflow: int = 10
    application_name: str = "parcelflow"


def _checked_against_a_lost_server(pool: ConnectionPool) -> Callable[[Any], None]:
    """A pool's check before it hands out a connection: psycopg_pool's own
    (`check_connection`, an empty query), and when it fails, every idle connection
    checked at once (`pool.check()`) rather than one per call.

    When the server ends its sessions (a restart, a failover, pg_terminate_backend)
    every idle connection is dead. psycopg_pool then finds them one per attempt and
    waits between attempts with a backoff from 1 s (1 + 2 + 4 + 8 s for five dead
    connections: 15 s measured per round here, on top of the 54 s the worker lost over
    five rounds before connections were checked at all). One dead connection is taken
    as the sign: the rest are tested and replaced now, and the next attempt, after the
    pool's first 1 s wait, gets a working one."""

    def check(conn: Any) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            log.warning("store.connection_lost", action="checking every pooled connection")
            pool.check()
            raise

    return check


class PostgresParcelFactory(PostgresFactory):
    """The library's PostgreSQL factory, with its pool's connections named and checked.

    The library has no setting for `application_name`, nor for the pool's check; the
    pool opens lazily, so setting both here, before the first connection, covers every
    one. (`_check` is psycopg_pool's attribute for its `check` argument, 3.2 and later;
    `tests/integration/test_kafka_ingest_worker.py` times the recovery it gives.)"""

    APPLICATION_NAME = "POSTGRES_APPLICATION_NAME"

    def __init__(self, env: Any):
        super().__init__(env)
        pool = self.datastore.pool
        name = self.env.get(self.APPLICATION_NAME)
        if name:
            pool.kwargs["application_name"] = name
        assert getattr(pool, "_check", None) is not None, "POSTGRES_PRE_PING is on"
        pool._check = _checked_against_a_lost_server(pool)


def store_env(database_url: str, pool: Pool = Pool()) -> dict[str, str]:
    """The eventsourcing environment for a `PARCELFLOW_DATABASE_URL`."""
    if is_postgres(database_url):
        parts = conninfo_to_dict(database_url)
        return {
            **_COMMON,
            "PERSISTENCE_MODULE": f"{__name__}:PostgresParcelFactory",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:PostgresParcelRecorder",
            "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(parts.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(parts.get("port") or "5432"),
            "POSTGRES_USER": str(parts.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(parts.get("password") or ""),
            # Left off on purpose: with database functions on, the insert skips the
            # table lock that keeps commit order equal to notification-id order, and
            # log followers were seen to miss events under concurrent writers.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_POOL_SIZE": str(pool.size),
            "POSTGRES_MAX_OVERFLOW": str(pool.overflow),
            # Each connection is checked as it leaves the pool (psycopg_pool's
            # `check_connection`: an empty query, one round trip). Without it, after the
            # server ended its sessions (a restart, a failover, pg_terminate_backend) every
            # pooled connection failed once in turn, each failure a retry with backoff:
            # five rounds of terminations stopped ingest for about 54 s. With it a dead
            # connection is replaced before anyone uses it.
            "POSTGRES_PRE_PING": "y",
            PostgresParcelFactory.APPLICATION_NAME: pool.application_name,
            "POSTGRES_LOCK_TIMEOUT": "30",
        }
    path = sqlite_path(database_url)
    if not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {
        **_COMMON,
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "APPLICATION_RECORDER_TOPIC": f"{__name__}:SQLiteParcelRecorder",
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "30",
    }
