"""Two writers, real transactions, the same parcels: every scan stored once, chains intact."""

from __future__ import annotations

import threading

from parcelflow.application.audit import verify_all
from parcelflow.domain.ids import parcel_id
from tests.support.builders import manifest, scan, tracking

PARCELS = 80  # batches above the recorder's COPY threshold: conflicts on the COPY path
ROUNDS = 15


def test_racing_writers_lose_nothing_and_count_nothing_twice(make_service, database_url):
    writers = [make_service(database_url, cache_size=1000) for _ in range(2)]
    writers[0].register([manifest(n) for n in range(1, PARCELS + 1)])
    # Both writers send every scan (a retried upload reaching two ingest processes).
    rounds = [
        [scan("sort", "SZX-HUB-01", 1 + r * 0.01, n, next_facility="SHA-HUB-02")
         for n in range(1, PARCELS + 1)]
        for r in range(ROUNDS)
    ]
    results: dict[int, list] = {0: [], 1: []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(k: int) -> None:
        try:
            start.wait()
            for batch in rounds:
                results[k].append(writers[k].ingest(batch))
        except BaseException as e:  # noqa: BLE001 — reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    accepted = sum(r.accepted for k in (0, 1) for r in results[k])
    duplicates = sum(r.duplicates for k in (0, 1) for r in results[k])
    assert accepted == PARCELS * ROUNDS  # each scan accepted by exactly one writer
    assert duplicates == PARCELS * ROUNDS
    stored = writers[0].load_many([parcel_id(tracking(n)) for n in range(1, PARCELS + 1)],
                                  use_cache=False)
    assert all(len(p.scan_versions) == ROUNDS for p in stored.values())
    assert verify_all(writers[0]).ok


def test_a_writer_with_a_cache_is_not_fooled_by_another_writers_changes(make_service,
                                                                     database_url):
    """Two processes writing one parcel (the API and a CLI, say): an answer that changes
    nothing, given from the first one's cached copy, is checked against the store."""
    from parcelflow.application.exceptions import ExceptionWorkflow
    from parcelflow.domain.vocabulary import ExceptionCode, Outcome

    api, cli = (make_service(database_url, cache_size=1000) for _ in range(2))
    api.register([manifest(1)])
    api.ingest([scan("pickup", "SZX-OUT-07", 0, 1)])  # the parcel is now in api's cache
    first = ExceptionWorkflow(api).raise_exception(tracking(1), ExceptionCode.DAMAGED,
                                                   by="cs-1").case_id
    ExceptionWorkflow(api).acknowledge(tracking(1), first, by="cs-1")

    ExceptionWorkflow(cli).resolve(tracking(1), first, Outcome.REDELIVERED, by="cs-1")
    # api's copy still shows `damaged` open: raising it again would answer with the old
    # one and store nothing.
    second = ExceptionWorkflow(api).raise_exception(tracking(1), ExceptionCode.DAMAGED,
                                                    by="cs-2").case_id
    assert second != first
    assert api.get(tracking(1)).exceptions[second].is_open

    ExceptionWorkflow(api).acknowledge(tracking(1), second, by="cs-2")
    ExceptionWorkflow(api).resolve(tracking(1), second, Outcome.REDELIVERED, by="cs-2")
    ExceptionWorkflow(cli).reopen(tracking(1), second, by="cs-2", reason="box arrived empty")
    # api's copy shows it resolved; resolving it refused on that copy would be wrong.
    ExceptionWorkflow(api).resolve(tracking(1), second, Outcome.RESHIPPED, by="cs-2")
    assert not api.get(tracking(1)).exceptions[second].is_open
    assert verify_all(api).ok


def test_a_batch_that_fails_halfway_leaves_no_unsaved_change_in_the_cache(make_service,
                                                                         database_url):
    """The store fails in the middle of a batch (here: the query that checks a cached
    answer): the parcels the batch changed in memory are forgotten, so the next batch
    builds on what is stored, not on what never was."""
    svc = make_service(database_url, cache_size=100)
    svc.register([manifest(1), manifest(2)])
    again = scan("pickup", "SZX-OUT-07", 0, 2, scan_id="pickup-2")
    svc.ingest([scan("pickup", "SZX-OUT-07", 0, 1), again])
    versions, failures = svc.recorder.max_versions, [ConnectionError("the database blinked")]

    def blinking(ids):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return versions(ids)

    svc.recorder.max_versions = blinking  # type: ignore[method-assign]
    try:  # parcel 1 changes in memory; parcel 2's scan is a duplicate, checked: fails
        svc.ingest([scan("arrival", "SZX-HUB-01", 2, 1), again])
    except ConnectionError:
        pass
    else:
        raise AssertionError("the failing query did not fail the batch")
    report = svc.ingest([scan("arrival", "SZX-HUB-01", 2, 1)])
    assert report.accepted == 1  # the lost batch's scan, sent again
    stored = svc.recorder.select_events_for([parcel_id(tracking(1))])[parcel_id(tracking(1))]
    assert [e.originator_version for e in stored] == list(range(1, len(stored) + 1))
    assert verify_all(svc).ok
    assert svc.get(tracking(1)).state.status == "at_facility"
