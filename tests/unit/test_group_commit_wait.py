"""The group commit's short wait (api/group_commit.py): after a write that held several
requests' batches, the next writer waits a moment for the requests it answered to come
back, instead of writing alone; a lone client never waits. A fake ingest (this isolates
the grouping; tests/integration/test_api_group_commit.py runs it on the real service)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from parcelflow.api.group_commit import GroupCommit
from parcelflow.application.results import BatchReport, ItemResult, ItemStatus


class Ingest:
    """Accepts every item; remembers each call's items (one call per group)."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    def __call__(self, items: Any) -> BatchReport:
        self.groups.append(list(items))
        return BatchReport([ItemResult(k, ItemStatus.ACCEPTED, item)
                            for k, item in enumerate(items)], position=len(self.groups))


def _until(check: Any) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.002)


def _batch(name: str) -> list[dict[str, str]]:
    return [{"tracking_no": name, "scan_id": f"{name}-1"}]


def _three_grouped(commit: GroupCommit, lock: threading.Lock, ingest: Ingest,
                   pool: ThreadPoolExecutor) -> None:
    """a written alone while b, c, d queue behind it; then b, c, d as one group."""
    with lock:
        first = pool.submit(commit.ingest, ingest, _batch("a"))
        _until(lambda: commit.writing)
        later = [pool.submit(commit.ingest, ingest, _batch(n)) for n in "bcd"]
        _until(lambda: commit.waiting == 3)
    for f in [first, *later]:
        f.result(timeout=10)
    assert [len(g) for g in ingest.groups] == [1, 3]


def _after_a_group_of_three(max_items: int, linger: float) -> tuple[GroupCommit, Ingest]:
    lock = threading.Lock()
    commit, ingest = GroupCommit(lock, max_items, linger=linger), Ingest()
    with ThreadPoolExecutor(4) as pool:
        _three_grouped(commit, lock, ingest, pool)
    return commit, ingest


def _timed(commit: GroupCommit, ingest: Ingest, items: list[Any]) -> tuple[BatchReport, float]:
    """A batch written from this thread: its report, and the seconds it took."""
    started = time.monotonic()
    report = commit.ingest(ingest, items)
    return report, time.monotonic() - started


def test_after_a_group_of_three_a_lone_batch_waits_for_the_others():
    commit, ingest = _after_a_group_of_three(1000, linger=5.0)
    with ThreadPoolExecutor(3) as pool:
        e = pool.submit(commit.ingest, ingest, _batch("e"))
        _until(lambda: commit.writing)  # e's thread is the writer, waiting for company
        time.sleep(0.05)
        assert len(ingest.groups) == 2 and not e.done()
        f = pool.submit(commit.ingest, ingest, _batch("f"))
        g = pool.submit(commit.ingest, ingest, _batch("g"))
        reports = [x.result(timeout=10) for x in (e, f, g)]
    assert [len(x) for x in ingest.groups] == [1, 3, 3]
    assert [r.results[0].key for r in reports] == [_batch(n)[0] for n in "efg"]
    assert {r.position for r in reports} == {3}


def test_the_wait_ends_after_the_linger_when_nobody_else_comes():
    commit, ingest = _after_a_group_of_three(1000, linger=0.3)
    report, waited = _timed(commit, ingest, _batch("e"))
    assert report.results[0].status == ItemStatus.ACCEPTED
    assert 0.3 <= waited < 5 and [len(x) for x in ingest.groups] == [1, 3, 1]
    # Its group held one batch: the next lone batch is written without waiting.
    assert _timed(commit, ingest, _batch("f"))[1] < 0.3


def test_a_lone_client_never_waits():
    commit, ingest = GroupCommit(threading.Lock(), 1000, linger=5.0), Ingest()
    started = time.monotonic()
    for n in "abcde":
        commit.ingest(ingest, _batch(n))
    assert time.monotonic() - started < 2.5  # five writes, none waited its 5 s
    assert [len(x) for x in ingest.groups] == [1] * 5


def test_a_full_group_of_items_does_not_wait_for_more_batches():
    commit, ingest = _after_a_group_of_three(3, linger=5.0)
    full = [{"tracking_no": f"x{k}", "scan_id": f"x{k}"} for k in range(3)]
    assert _timed(commit, ingest, full)[1] < 2.5
    assert [len(x) for x in ingest.groups] == [1, 3, 3]
