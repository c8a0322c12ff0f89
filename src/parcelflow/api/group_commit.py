"""Group commit for `POST /v1/scans`: concurrent requests' batches written as one.

The API's writes go through one service whose ingest cache holds mutable parcels, so
they run one at a time (`ApiContext.write`). With several scanners posting at once,
each request used to wait for the lock, then pay a whole unit of work for its 100
scans: the store's table lock, its id and NOTIFY round trips and a commit (half of a
100-scan request's store time, bench/profiles/README.md §4). Here the requests that
arrive while a write is under way queue; the next writer takes its own batch and the
queued ones with it and records them in one `ParcelService.ingest` call, one
transaction, then gives every request its own answer back.

What each request is answered is what it would have been answered alone:

- a group never holds two requests with scans of the same parcel (a later one waits
  for the next group), so one request's scans never share a parcel's unit of work
  with another's: a scan its parcel refuses costs that parcel's share of its own
  request only, and a `scan_id` repeated across two requests is a duplicate in the
  second as it would be one request later;
- the results are the request's own items, indexed from 0 in its own order;
- the position is the group's last event when the request recorded something (at or
  after its own last event: a read model at that position shows the request's scans),
  None when it recorded nothing, as alone;
- if the group's write fails, each request of it is written again alone, so an error
  is answered to the request it belongs to;
- a group holds at most the service's batch limit of items.

A writer that finds fewer batches queued than the last group held waits up to `linger`
seconds for them first (PostgreSQL's `commit_delay`, asked only when `commit_siblings`
are about). Without it, the requests a group answers all come back together and the
first of them writes alone: with 4 clients posting, groups went 1, 3, 1, 3, and each
group pays the store's fixed round trips. A lone client's last group is 1, so it never
waits.

Idempotency-Key answers are stored per request around this (api/http.py), unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from parcelflow.application.results import BatchReport, ItemResult, ItemStatus

log = structlog.get_logger(__name__)

Ingest = Callable[[Sequence[Any]], BatchReport]


class _Batch:
    __slots__ = ("items", "parcels", "report", "error", "done")

    def __init__(self, items: Sequence[Any]):
        self.items = items
        self.parcels = frozenset(
            item["tracking_no"] for item in items
            if isinstance(item, dict) and isinstance(item.get("tracking_no"), str))
        self.report: BatchReport | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit:
    """Scan batches from concurrent threads, recorded in groups (see the module)."""

    def __init__(self, write_lock: threading.Lock, max_items: int, linger: float = 0.0):
        self._write_lock = write_lock  # ApiContext's: other writes are serialised with ours
        self.max_items = max_items
        self.linger = linger
        queue_lock = threading.Lock()
        self._cond = threading.Condition(queue_lock)  # a group written: look again
        self._arrived = threading.Condition(queue_lock)  # a batch queued: for `_gather`
        self._queue: list[_Batch] = []
        self._writing = False
        self._last_group = 1

    @property
    def waiting(self) -> int:
        """Batches queued for the next group (for tests and metrics)."""
        with self._cond:
            return len(self._queue)

    @property
    def writing(self) -> bool:
        with self._cond:
            return self._writing

    def ingest(self, ingest: Ingest, items: Sequence[Any]) -> BatchReport:
        """Record `items` (maybe together with other threads' batches): its own report.
        Whichever waiting thread gets to write writes the oldest queued batch's group,
        so batches are written in the order they arrived (a later one of the same
        parcel waits for the next group), and goes on until its own is written."""
        mine = _Batch(items)
        with self._cond:
            self._queue.append(mine)
            self._arrived.notify()
            while not mine.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                self._gather()
                group = self._take()
                self._last_group = len(group)
                self._cond.release()
                try:
                    self._write(ingest, group)
                finally:
                    self._cond.acquire()
                    for batch in group:
                        batch.done = True
                    self._writing = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.report is not None
        return mine.report

    def _gather(self) -> None:
        """Wait (at most `linger`) until as many batches are queued as the last group
        held, or a group's worth of items. Called holding the lock, as the writer."""
        if self.linger <= 0 or len(self._queue) >= self._last_group:
            return
        deadline = time.monotonic() + self.linger
        while (len(self._queue) < self._last_group
               and sum(len(b.items) for b in self._queue) < self.max_items):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.wait(left)

    def _take(self) -> list[_Batch]:
        """The oldest queued batch, then the later ones whose parcels are not in the
        group yet, in arrival order, within the item limit; they leave the queue."""
        group: list[_Batch] = []
        parcels: set[str] = set()
        size = 0
        for batch in self._queue:
            if group and (size + len(batch.items) > self.max_items
                          or not parcels.isdisjoint(batch.parcels)):
                continue
            group.append(batch)
            parcels |= batch.parcels
            size += len(batch.items)
        taken = {id(b) for b in group}
        self._queue = [b for b in self._queue if id(b) not in taken]
        return group

    def _write(self, ingest: Ingest, group: list[_Batch]) -> None:
        with self._write_lock:
            if len(group) == 1:
                _alone(ingest, group[0])
                return
            try:
                report = ingest([item for batch in group for item in batch.items])
            except Exception as e:  # noqa: BLE001 — each request gets its own outcome
                log.warning("scans.group_failed", requests=len(group), error_type=type(e).__name__)
                for batch in group:
                    _alone(ingest, batch)
                return
        start = 0
        for batch in group:
            batch.report = _part(report, start, len(batch.items))
            start += len(batch.items)


def _alone(ingest: Ingest, batch: _Batch) -> None:
    try:
        batch.report = ingest(batch.items)
    except BaseException as e:  # noqa: BLE001 — re-raised in the request's own thread
        batch.error = e


def _part(report: BatchReport, start: int, count: int) -> BatchReport:
    """The results of items start..start+count of a group's report, as the request's own."""
    results = [ItemResult(r.index - start, r.status, r.key, r.reason)
               for r in report.results[start:start + count]]
    assert all(r.index == k for k, r in enumerate(results))
    wrote = any(r.status == ItemStatus.ACCEPTED for r in results)
    return BatchReport(results=results, position=report.position if wrote else None)
