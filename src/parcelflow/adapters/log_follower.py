"""Following the store's notification log in batches, from a position.

Projections, the Kafka relay and the store-following notification worker all read the
log the same way: "everything after position p, up to n at a time, and wait when
there is nothing new". Reading after p never skips an event that commits later: the
PostgreSQL recorder takes a table lock on insert, so commit order equals
notification-id order, and SQLite has a single writer. Gaps in the ids are normal (a
failed insert uses up sequence values) and are never waited for.

Events a bucket move copied into this log (`copied_events`, written in the copy's own
transaction) were followed already on the shard they came from: they are left out of
the batches, which say where they end (`Batch.end`) so a follower records its position
past them, even for a batch that held nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import structlog
from eventsourcing.persistence import ApplicationRecorder, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

log = structlog.get_logger(__name__)


class _Listener:
    """One LISTEN connection per database pool, waking every follower in the process.

    Each follower used to listen on a connection of its own, held for as long as it
    ran: a `project --follow` of four read models kept four pooled connections only
    to hear NOTIFY. They share one now, so a follower needs a connection only while
    it reads or writes (see `Pool` in adapters/store.py)."""

    _lock = threading.Lock()
    _by_datastore: dict[int, _Listener] = {}

    def __init__(self, recorder: PostgresApplicationRecorder):
        self.recorder = recorder
        self.wakes: set[threading.Event] = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._listen, name="log-listen", daemon=True)

    @classmethod
    def join(cls, recorder: PostgresApplicationRecorder, wake: threading.Event) -> None:
        with cls._lock:
            key = id(recorder.datastore)
            listener = cls._by_datastore.get(key)
            if listener is None:
                listener = cls._by_datastore[key] = cls(recorder)
                listener.thread.start()
            listener.wakes.add(wake)
            wake.set()  # read once now: the listener may not be listening yet

    @classmethod
    def leave(cls, recorder: PostgresApplicationRecorder, wake: threading.Event) -> None:
        with cls._lock:
            key = id(recorder.datastore)
            listener = cls._by_datastore.get(key)
            if listener is None or wake not in listener.wakes:
                return
            listener.wakes.discard(wake)
            if listener.wakes:
                return
            del cls._by_datastore[key]
        listener.stopping.set()
        listener.thread.join(timeout=2)

    def _wake_all(self) -> None:
        for wake in list(self.wakes):
            wake.set()

    def _listen(self) -> None:
        recorder = self.recorder
        while not self.stopping.is_set():
            try:
                with recorder.datastore.get_connection() as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(recorder.channel_name)))
                    self._wake_all()  # anything committed before LISTEN is read next
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=0.2, stop_after=1):
                            self._wake_all()
            except Exception as e:  # noqa: BLE001 — reconnect; polling covers the gap
                log.warning("log_follower.listen_failed", error=str(e))
                self.stopping.wait(1.0)


class Batch(list):  # type: ignore[type-arg]
    """Notifications read in one go, less the copied ones; `end`: the last id read."""

    end: int


def batch_end(notes: Sequence[Notification]) -> int:
    """Where a follower stands after a batch: past every id it read (copies included)."""
    return getattr(notes, "end", None) or notes[-1].id


class LogFollower:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        *,
        batch_size: int = 1000,
        poll_interval: float = 0.05,
        topics: Sequence[str] = (),
    ):
        self.recorder = recorder
        self.batch_size = batch_size
        self.topics = tuple(topics)
        # SQLite cannot notify: poll briefly. PostgreSQL is woken by NOTIFY; the wait
        # timeout there is only a safety net.
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._listening = False
        self._copied: SQL | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            self.poll_interval = max(poll_interval, 1.0)
            self._copied = SQL("SELECT first_id, last_id FROM {}.copied_events "
                               "WHERE last_id >= %s AND first_id <= %s").format(
                Identifier(recorder.datastore.schema))

    def _listen_once_following(self) -> None:
        """Start listening the first time someone follows: a follower only read up to
        the head (a rebuild, a lag figure) holds no connection for a listener."""
        if isinstance(self.recorder, PostgresApplicationRecorder) and not self._listening:
            self._listening = True
            _Listener.join(self.recorder, self._wake)

    def head(self) -> int:
        """The newest notification id in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int | None = None) -> Sequence[Notification]:
        return self.recorder.select_notifications(
            start=after, limit=limit or self.batch_size, topics=self.topics,
            inclusive_of_start=False,
        )

    def batches(
        self, after: int, *, follow: bool, stop: threading.Event | None = None,
        upto: int | None = None, size: int | None = None,
        idle: Callable[[], None] | None = None,
    ) -> Iterator[Sequence[Notification]]:
        """Batches after `after`; with `follow`, waits for more until `stop` is set.
        Without it, ends at the log head as it is now (or at `upto`). `idle` is called
        each time a read finds nothing new, before waiting (the relay finishes the
        batch it has in flight then)."""
        stop = stop or threading.Event()
        if follow:
            self._listen_once_following()
        position = after
        end = None if follow else (upto if upto is not None else self.head())
        while not stop.is_set():
            self._wake.clear()
            notes = self.read(position, size)
            if end is not None:
                notes = [n for n in notes if n.id <= end]
            if notes:
                position = notes[-1].id
                yield self._without_copies(notes)
                if end is not None and position >= end:
                    return
                continue
            if idle is not None:
                idle()
            if not follow:
                return
            self._wake.wait(self.poll_interval)

    def _without_copies(self, notes: Sequence[Notification]) -> Batch:
        """The batch less the events a bucket move copied in. The ranges are read after
        the notifications: a range commits with its events, so every range of an event
        read is visible by then."""
        batch = Batch(notes)
        batch.end = notes[-1].id
        if self._copied is None:
            return batch
        with self.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            ranges = conn.execute(self._copied, (notes[0].id, notes[-1].id)).fetchall()
        if ranges:
            spans = [(r["first_id"], r["last_id"]) for r in ranges]
            batch[:] = [n for n in notes if not any(a <= n.id <= b for a, b in spans)]
        return batch

    def wake(self) -> None:
        """End a wait for new events now (the caller has a reason to look at `stop`)."""
        self._wake.set()

    def close(self) -> None:
        if self._listening:
            assert isinstance(self.recorder, PostgresApplicationRecorder)
            _Listener.leave(self.recorder, self._wake)
            self._listening = False
