"""A read model whose write the database refuses (a NOT NULL violation in the COPY into
its table on PostgreSQL) stops its runner with the error, named by kind and place and
without the row, instead of hanging: the runner read the violation as "another runner
recorded this position first" and retried it for ever (that race itself is
test_projections.py::test_two_runners_of_one_projection_never_apply_a_batch_twice). Each run is in a thread joined
with a timeout, so a hang fails the test instead of holding up the suite."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from parcelflow.projections.base import ParcelProjection, Replica, ViewStore, view_store
from parcelflow.projections.runner import ProjectionWriteFailed, Runner
from tests.support.builders import journey, manifest, tracking

TIMEOUT = 60.0  # seconds; a healthy run takes well under one
PRIVATE = "李华 13987654321"  # what a row may hold: it must not reach the log or the error


class RowsStore(ViewStore):
    name = "refusing"
    tables = ("refusing_rows",)
    create_statements = (
        "CREATE TABLE IF NOT EXISTS refusing_rows (tracking_no TEXT PRIMARY KEY, "
        "receiver TEXT, status TEXT NOT NULL)",
    )


class Refusing(ParcelProjection):
    """Renders every parcel; a parcel whose tracking number is in `broken` without the
    status its table requires (the bug a read model can have)."""

    name = "refusing"
    store = RowsStore
    broken: frozenset[str] = frozenset()

    def prepare(self, events: Any) -> list[dict[str, Any]]:
        return [{"tracking_no": p.tracking_no, "receiver": PRIVATE,
                 "status": None if p.tracking_no in self.broken else str(p.state.status)}
                for p in self.replica.apply(events).values()]

    def commit(self, prepared: list[dict[str, Any]], tracking: Any) -> None:
        with self.view.writing(tracking) as c:
            self.view.upsert(c, "refusing_rows", "tracking_no",
                             ("tracking_no", "receiver", "status"), prepared)


def runner_for(service: Any, broken: set[str]) -> Runner:
    projection = Refusing(view_store(RowsStore, service.factory.datastore), Replica(service))
    projection.broken = frozenset(broken)
    return Runner(projection, service)


def in_thread(run: Any) -> tuple[threading.Thread, list[BaseException], list[Any]]:
    errors: list[BaseException] = []
    results: list[Any] = []

    def target() -> None:
        try:
            results.append(run())
        except BaseException as e:  # noqa: BLE001 — looked at by the test
            errors.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors, results


def assert_refused_loudly(errors: list[BaseException], logs: list[dict[str, Any]]) -> None:
    [error] = errors
    assert isinstance(error, ProjectionWriteFailed), repr(error)
    assert "NotNullViolation" in str(error) and "status" in str(error)
    assert error.__suppress_context__  # the driver's message quotes the row
    [logged] = [e for e in logs if e["event"] == "projection.write_failed"]
    assert (logged["projection"], logged["error"], logged["column"]) == (
        "refusing", "NotNullViolation", "status")
    assert "13987654321" not in str(error) and "13987654321" not in repr(logs)
    assert not [e for e in logs if e["event"] == "projection.overtaken"]


@pytest.mark.postgres
def test_a_refused_write_stops_a_catch_up_with_the_error(make_service, postgres_url):
    service = make_service(postgres_url)
    service.register([manifest(1), manifest(2)])
    service.ingest(journey(1)[:3] + journey(2)[:3])
    runner = runner_for(service, {tracking(2)})
    try:
        with capture_logs() as logs:
            thread, errors, _ = in_thread(runner.run)
            thread.join(TIMEOUT)
        assert not thread.is_alive(), "the runner hung on a refused write"
        assert_refused_loudly(errors, logs)
        assert runner.position == 0  # nothing of the refused batch was recorded
    finally:
        runner.close()


@pytest.mark.postgres
def test_a_refused_write_stops_a_follower_waiting_for_more(make_service, postgres_url):
    service = make_service(postgres_url)
    service.register([manifest(1)])
    service.ingest(journey(1)[:3])
    runner = runner_for(service, {tracking(2)})
    stop = threading.Event()
    try:
        with capture_logs() as logs:
            thread, errors, _ = in_thread(lambda: runner.run(follow=True, stop=stop))
            head = runner.follower.head()
            deadline = threading.Event()
            for _ in range(int(TIMEOUT * 10)):  # the good parcel's rows are written
                if runner.position >= head:
                    break
                deadline.wait(0.1)
            assert runner.position >= head
            good = runner.position
            service.register([manifest(2)])  # now a row the table refuses
            service.ingest(journey(2)[:2])
            thread.join(TIMEOUT)
        assert not thread.is_alive(), "the follower hung on a refused write"
        assert not stop.is_set()  # it stopped on its own, with the error
        assert_refused_loudly(errors, logs)
        assert runner.position == good
        [row] = runner.projection.view.query("SELECT tracking_no, status FROM refusing_rows")
        assert row == {"tracking_no": tracking(1), "status": "at_facility"}
    finally:
        stop.set()
        runner.close()

