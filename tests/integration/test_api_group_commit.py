"""POST /v1/scans under concurrency: batches that arrive while another is being written
are recorded together (api/group_commit.py), and each request is answered as if alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from parcelflow.api.group_commit import GroupCommit
from tests.support.builders import journey, manifest, scan, tracking


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


class Recording:
    """The service's ingest, counting the calls (one per group) and their sizes."""

    def __init__(self, ingest: Callable[[Any], Any], fail_above: int | None = None):
        self.ingest = ingest
        self.calls: list[int] = []
        self.fail_above = fail_above

    def __call__(self, items: Any) -> Any:
        self.calls.append(len(items))
        if self.fail_above is not None and len(items) > self.fail_above:
            raise RuntimeError("the store went away")
        return self.ingest(items)


def _queued_behind_a_writer(commit: GroupCommit, lock: threading.Lock, ingest: Recording,
                            first: list[Any], *later: list[Any]) -> list[Any]:
    """`first` written while the test holds the write lock, so `later` queue behind it;
    then the lock is let go. The reports, in the order given."""
    with ThreadPoolExecutor(max_workers=1 + len(later)) as pool:
        with lock:
            futures = [pool.submit(commit.ingest, ingest, first)]
            _until(lambda: commit.writing, "the first batch's writer")
            futures += [pool.submit(commit.ingest, ingest, batch) for batch in later]
            _until(lambda: commit.waiting == len(later), "the later batches to queue")
        return [f.result(timeout=30) for f in futures]


def test_queued_batches_are_written_together_and_answered_apart(api):
    api.client.post("/v1/parcels", json=[manifest(n) for n in (1, 2, 3)], headers=api.auth("orders"))
    ctx = api.client.app.state.ctx
    ingest = Recording(api.service.ingest)
    a = journey(1)[:2]
    b = [journey(2)[0], {**journey(2)[1], "colour": "red"}, journey(2)[1]]
    j3 = journey(3)
    c = [j3[0], j3[0]]  # the same scan twice: a duplicate in its own batch
    ra, rb, rc = _queued_behind_a_writer(ctx.scan_writes, ctx.write_lock, ingest, a, b, c)

    assert ingest.calls == [2, 5]  # a alone, then b and c in one unit of work
    assert [(r.index, str(r.status)) for r in ra.results] == [(0, "accepted"), (1, "accepted")]
    assert [(r.index, str(r.status)) for r in rb.results] == [
        (0, "accepted"), (1, "rejected"), (2, "accepted")]
    assert "colour" in (rb.results[1].reason or "")
    assert [(r.index, str(r.status), r.key) for r in rc.results] == [
        (0, "accepted", c[0]["scan_id"]), (1, "duplicate", c[0]["scan_id"])]
    # b and c were written in one transaction: one position, after a's.
    assert rb.position == rc.position and rb.position > ra.position
    for n, kinds in ((1, ["pickup", "departure"]), (2, ["pickup", "departure"]), (3, ["pickup"])):
        stored = api.service.get(tracking(n))
        assert [e.kind for e in stored.state.timeline if e.scan] == kinds


def test_batches_for_the_same_parcel_are_not_grouped(api):
    api.client.post("/v1/parcels", json=[manifest(n) for n in (4, 5)], headers=api.auth("orders"))
    ctx = api.client.app.state.ctx
    ingest = Recording(api.service.ingest)
    trip = journey(4)
    first, again, other = [journey(5)[0]], [trip[0], trip[1]], [trip[0]]
    _, r_again, r_other = _queued_behind_a_writer(ctx.scan_writes, ctx.write_lock, ingest,
                                                  first, again, other)
    # `again` and `other` both scan parcel 4: written one after the other, so the scan
    # repeated in `other` is a duplicate of `again`'s, as it would be a request later.
    assert ingest.calls == [1, 2, 1]
    assert [str(r.status) for r in r_again.results] == ["accepted", "accepted"]
    assert [str(r.status) for r in r_other.results] == ["duplicate"]
    assert r_other.position is None  # nothing recorded, as when alone


def test_a_request_that_records_nothing_has_no_position_in_a_group(api):
    api.client.post("/v1/parcels", json=[manifest(n) for n in (6, 7, 8)], headers=api.auth("orders"))
    seen = journey(7)[:1]
    api.client.post("/v1/scans", json=seen, headers=api.auth("SZX-OUT-07"))
    ctx = api.client.app.state.ctx
    ingest = Recording(api.service.ingest)
    _, r_new, r_old = _queued_behind_a_writer(ctx.scan_writes, ctx.write_lock, ingest,
                                              journey(6)[:1], journey(8)[:1], seen)
    assert ingest.calls == [1, 2]
    assert [str(r.status) for r in r_new.results] == ["accepted"] and r_new.position
    assert [str(r.status) for r in r_old.results] == ["duplicate"] and r_old.position is None


def test_a_failed_group_is_written_again_request_by_request(api):
    api.client.post("/v1/parcels", json=[manifest(n) for n in (9, 10, 11)], headers=api.auth("orders"))
    ctx = api.client.app.state.ctx
    ingest = Recording(api.service.ingest, fail_above=2)  # the grouped write fails
    ra, rb, rc = _queued_behind_a_writer(ctx.scan_writes, ctx.write_lock, ingest,
                                         journey(9)[:1], journey(10)[:2], journey(11)[:1])
    assert ingest.calls == [1, 3, 2, 1]  # a; b+c fails; b alone; c alone
    assert [str(r.status) for r in rb.results] == ["accepted", "accepted"]
    assert [str(r.status) for r in rc.results] == ["accepted"]
    assert rc.position > rb.position > ra.position


def test_concurrent_posts_each_get_their_own_answer(api):
    parcels = range(20, 36)
    api.client.post("/v1/parcels", json=[manifest(n) for n in parcels], headers=api.auth("orders"))
    headers = api.auth("SZX-HUB-01")
    # Two batches per parcel pair (arrival, then sort), posted from 8 threads at once.
    batches = [[scan("arrival", "SZX-HUB-01", 2, n), scan("arrival", "SZX-HUB-01", 2, n + 1)]
               for n in parcels[::2]]
    batches += [[scan("sort", "SZX-HUB-01", 3, n)] for n in parcels]

    def post(batch: list[dict[str, Any]]) -> dict[str, Any]:
        key = {"Idempotency-Key": "k-" + batch[0]["scan_id"]}
        return api.client.post("/v1/scans", json=batch, headers={**headers, **key}).json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, batches))
    for batch, answer in zip(batches, answers, strict=True):
        assert [r["scan_id"] for r in answer["results"]] == [s["scan_id"] for s in batch]
        assert answer["accepted"] == len(batch) and answer["position"] > 0
    # A retry with the same key gets its first answer again.
    assert post(batches[3]) == answers[3]
    for n in parcels:
        stored = api.service.get(tracking(n))
        assert {e.kind for e in stored.state.timeline if e.scan} == {"arrival", "sort"}
