"""Running a projection: catch up, follow, rebuild, and say how far behind it is.

The library's `ProjectionRunner` commits one transaction per event. This runner reads
the log in batches and gives each batch to the projection whole, so one transaction
carries many events' rows and the position after the last of them: exactly-once
still holds (rows and position commit together, or not at all), at the throughput
ingest needs.

Two runners of the same projection (say a follower and a command catching up for
read-your-writes) are safe together: the tracking table refuses a position that is not
ahead of the recorded one, so the loser's transaction rolls back and it carries on
from where the winner got to.

Any other refused write (a NOT NULL or CHECK violation, a value of the wrong type) is
a bug in the read model, not a race: the library reports a constraint violation as the
same IntegrityError, so a refused write counts as "overtaken" only when the position
it carried is now recorded; otherwise the runner stops with `ProjectionWriteFailed`,
naming the error's kind and place (table, column, constraint), never the row, whose
values can be personal data. (Retrying it as overtaken spun forever.) A follower
waiting for new events is woken by the failed write, so it stops at once instead of
when the next event arrives.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InternalError,
    NotSupportedError,
    ProgrammingError,
    Tracking,
)

from parcelflow.adapters.log_follower import LogFollower, batch_end
from parcelflow.application.service import ParcelService
from parcelflow.projections.base import ParcelProjection

log = structlog.get_logger(__name__)

Progress = Callable[[int, int, int], None]  # (events done, position, head)

# What the database says of a write that is wrong in itself: retrying cannot help.
REFUSED_WRITES = (IntegrityError, DataError, InternalError, ProgrammingError, NotSupportedError)


class ProjectionWriteFailed(RuntimeError):
    """The database refused a read model's write for a reason other than another runner
    recording the position first: what kind of error and where, never the row."""


def write_failure(projection: str, error: BaseException) -> ProjectionWriteFailed:
    """The failure as it may be logged and shown: the driver's error class and the
    table, column and constraint it names (psycopg's diagnostics), never its message,
    which quotes the failing row."""
    cause = error.__cause__ or error
    diag = getattr(cause, "diag", None)
    place = {key: getattr(diag, f"{key}_name", None) for key in ("table", "column", "constraint")}
    place = {k: v for k, v in place.items() if v}
    kind = type(cause).__name__
    log.error("projection.write_failed", projection=projection, error=kind,
              sqlstate=getattr(cause, "sqlstate", None), **place)
    where = ".".join(v for v in (place.get("table"), place.get("column")) if v)
    return ProjectionWriteFailed(
        f"{projection}: the database refused the read model's write ({kind}"
        + (f" at {where}" if where else "")
        + (f", constraint {place['constraint']}" if "constraint" in place else "") + ")")


class _Halt:
    """The follower's stop: the caller's, or a write that failed (which also wakes the
    follower if it is waiting for new events)."""

    def __init__(self, stop: threading.Event, follower: LogFollower):
        self.stop = stop
        self.follower = follower
        self.failed = threading.Event()

    def is_set(self) -> bool:
        return self.stop.is_set() or self.failed.is_set()

    def written(self, future: Future[None]) -> None:
        if future.exception() is not None:
            self.failed.set()
            self.follower.wake()


@dataclass(frozen=True)
class Lag:
    name: str
    position: int  # last notification id written into the view
    head: int  # newest notification id in the log
    behind: int  # notifications not yet in the view
    seconds: float  # age of the oldest event not yet in the view (0: up to date)

    def to_json(self) -> dict[str, object]:
        return {"projection": self.name, "position": self.position, "head": self.head,
                "behind": self.behind, "seconds_behind": round(self.seconds, 3)}


@contextmanager
def _collected_between_chunks() -> Iterator[Callable[[], None]]:
    """The cyclic garbage collector paused for a rebuild's chunks, and run after every
    tenth (the young generation, then as usual). A chunk allocates millions of objects
    that live until it is written and form no cycles (a 20,000-parcel rebuild left 26
    objects to the collector): its automatic young collections, 174 of them, were 0.7
    of 9 s of CPU, traversing the chunk's parcels and rows again and again (a collection
    after every chunk was still 3% of the samples: each traverses what is alive then, a
    chunk's worth whatever the interval). Process-wide
    (it is the interpreter's collector): restored as it was on leaving."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield lambda: gc.collect(0)
    finally:
        if was_enabled:
            gc.enable()


class Runner:
    def __init__(self, projection: ParcelProjection, service: ParcelService, *,
                 batch_size: int = 1000, tracking_name: str | None = None):
        self.projection = projection
        self.service = service
        self.name = projection.name
        self.follower = LogFollower(service.recorder, batch_size=batch_size)
        # Whose log the view's position counts in: the application's name, or one name
        # per shard when several logs feed one view (projections/sharded.py).
        self.tracking_name = tracking_name or service.name

    @property
    def position(self) -> int:
        return self.projection.view.max_tracking_id(self.tracking_name) or 0

    def run(self, *, follow: bool = False, stop: threading.Event | None = None,
            upto: int | None = None, progress: Progress | None = None,
            batch_size: int | None = None) -> int:
        """Process the log from the view's position: to the head (or `upto`), or on and on."""
        stop = stop or threading.Event()
        done = 0
        end = None if follow else (upto if upto is not None else self.follower.head())
        while not stop.is_set():
            halt = _Halt(stop, self.follower)
            try:
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as writer:
                    # While one batch is being written, the next is decoded and rendered:
                    # the database and Python work side by side. Batches still commit one
                    # at a time, in order, each with its own position.
                    writing: Future[None] | None = None
                    carried = 0  # the position the write in progress records
                    for notes in self.follower.batches(self.position, follow=follow,
                                                       stop=halt,  # type: ignore[arg-type]
                                                       upto=end, size=batch_size):
                        if not notes:  # only events a bucket move copied in: seen already
                            if writing is not None:
                                self._settle(writing, carried)
                                writing = None
                            self.record_position(batch_end(notes))
                            continue
                        events = [self.service.mapper.to_domain_event(n) for n in notes]
                        prepared = self.projection.prepare(events)  # type: ignore[arg-type]
                        if writing is not None:
                            self._settle(writing, carried)
                        carried = batch_end(notes)
                        writing = writer.submit(self.projection.commit, prepared,
                                                Tracking(self.tracking_name, carried))
                        writing.add_done_callback(halt.written)
                        done += len(notes)
                        if progress:
                            progress(done, notes[-1].id, end or notes[-1].id)
                    if writing is not None:
                        self._settle(writing, carried)
                return done
            except IntegrityError:
                # Someone else recorded this position first. Their rows stand; ours were
                # rolled back with the position. Forget what we applied and carry on.
                log.info("projection.overtaken", projection=self.name)
                self.projection.replica.forget()
        return done

    def _settle(self, writing: Future[None], carried: int | None) -> None:
        """Wait for a batch's write. Overtaken (its position recorded by another
        runner): the IntegrityError, for `run` to carry on after. Any other refusal:
        `ProjectionWriteFailed`."""
        try:
            writing.result()
        except REFUSED_WRITES as e:
            if isinstance(e, IntegrityError) and carried is not None \
                    and self.position >= carried:
                raise
            raise write_failure(self.name, e) from None

    # A rebuild takes parcels, not the log, in order: every row depends on one parcel's
    # events only, so each parcel is loaded whole (up to the log's head), applied and
    # rendered once — however far apart its events lie in the log.
    REBUILD_PARCELS = 2000  # parcels per query and per write

    def rebuild(self, progress: Progress | None = None) -> tuple[int, float]:
        """Drop the view and rebuild it from every event up to the log's head:
        (events, seconds). The position is recorded at the end; until then the view has
        none, and an interrupted rebuild is replayed from the start."""
        started = time.perf_counter()
        self.projection.view.drop()
        upto = self.follower.head()
        events = self.replay(self.service.recorder.parcel_ids(upto), upto, progress)
        self.record_position(upto)
        return events, time.perf_counter() - started

    def replay(self, ids: list[Any], upto: int, progress: Progress | None = None) -> int:
        """Write these parcels' rows as of notification `upto` (no position): (events)."""
        done = 0
        chunks = [ids[i:i + self.REBUILD_PARCELS] for i in range(0, len(ids), self.REBUILD_PARCELS)]

        def load(chunk: list[Any]) -> tuple[dict[Any, Any], Any]:
            return (self.service.recorder.select_events_for(chunk, upto=upto),
                    self.projection.preload(chunk))

        # Three threads, one chunk each: the next chunk is read, this one rendered, the
        # last one written. The database waits release the GIL.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as writer, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="read") as reader, \
                _collected_between_chunks() as chunk_done:
            writing: Future[None] | None = None
            reading = reader.submit(load, chunks[0]) if chunks else None
            for k, chunk in enumerate(chunks):
                assert reading is not None
                stored, preloaded = reading.result()
                reading = reader.submit(load, chunks[k + 1]) if k + 1 < len(chunks) else None
                events = [self.service.mapper.to_domain_event(e)
                          for pid in chunk for e in stored.get(pid, ())]
                self.projection.replica.forget()  # each parcel is seen once: keep none
                prepared = self.projection.prepare_new(events, preloaded)  # type: ignore[arg-type]
                if writing is not None:
                    self._settle(writing, None)
                # The view was emptied and each parcel is in one chunk: its rows are new.
                writing = writer.submit(self.projection.commit_new, prepared)
                done += len(events)
                if k % 10 == 9:
                    chunk_done()
                if progress:
                    progress(done, done, upto)
            if writing is not None:
                self._settle(writing, None)
        self.projection.replica.forget()
        return done

    def record_position(self, position: int) -> None:
        if position:
            with self.projection.view.writing(Tracking(self.tracking_name, position)):
                pass

    def lag(self, now: datetime | None = None) -> Lag:
        position, head = self.position, self.follower.head()
        pending = self.follower.read(position, limit=1) if head > position else []
        seconds = 0.0
        if pending:
            oldest = self.service.mapper.to_domain_event(pending[0])
            seconds = max(0.0, ((now or self.service.clock()) - oldest.recorded_at).total_seconds())
        behind = self.service.recorder.count_after(position) if head > position else 0
        return Lag(self.name, position, head, behind, seconds)

    def close(self) -> None:
        self.follower.close()
