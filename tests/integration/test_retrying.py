"""The workers' retry loop (consumers.retrying) on a real store: a batch that fails is
handled again from the saved position after a growing wait, nothing is skipped or
handled twice once saved, a success starts the waits afresh, and a stop request ends a
failing loop quietly."""

from __future__ import annotations

import threading

from parcelflow.adapters.log_follower import LogFollower
from parcelflow.adapters.positions import PositionStore
from parcelflow.consumers.retrying import follow_saved_position, retrying
from tests.support.builders import manifest


class Flaky:
    """Handles batches, failing the batches it is told to fail, a number of times each."""

    def __init__(self, positions: PositionStore, failures: dict[int, int]):
        self.positions = positions
        self.failures = failures  # batch number -> times it fails before it works
        self.handled: list[list[int]] = []
        self.attempts = 0

    def __call__(self, notes) -> None:
        self.attempts += 1
        batch = len(self.handled)
        if self.failures.get(batch, 0) > 0:
            self.failures[batch] -= 1
            raise OSError("the store went away")
        self.handled.append([n.id for n in notes])
        self.positions.save("test", notes[-1].id)


def test_a_failing_batch_is_redone_from_the_saved_position_after_growing_waits(
        service, monkeypatch):
    for n in range(1, 8):
        service.register([manifest(n)])
    positions = PositionStore(service.factory.datastore)
    follower = LogFollower(service.recorder, batch_size=3)
    handle = Flaky(positions, failures={1: 3, 2: 1})  # batch 2 fails 3 times, batch 3 once
    waits: list[float] = []
    stop = threading.Event()
    retry = retrying("test.retry", stop, first=0.01, most=0.03)
    monkeypatch.setattr(retry, "sleep", waits.append)  # record the waits instead of waiting

    follow_saved_position(follower, lambda: positions.get("test"), handle, stop,
                          follow=False, retry=retry)
    follower.close()

    head = follower.head()
    assert [i for batch in handle.handled for i in batch] == list(range(1, head + 1))
    assert len(handle.handled) == 3 and handle.attempts == 1 + (3 + 1) + (1 + 1)
    assert positions.get("test") == head
    # 0.01 doubling to the cap for batch 2; batch 3's only failure waits 0.01 again.
    assert waits == [0.01, 0.02, 0.03, 0.01]


def test_a_stop_request_ends_a_failing_loop_without_raising(service):
    service.register([manifest(1)])
    positions = PositionStore(service.factory.datastore)
    stop = threading.Event()

    def always_failing(notes) -> None:
        threading.Timer(0.05, stop.set).start()
        raise OSError("the broker is away")

    follower = LogFollower(service.recorder)
    follow_saved_position(follower, lambda: positions.get("test"), always_failing, stop,
                          follow=True, retry=retrying("test.retry", stop, first=5, most=5))
    follower.close()  # its listener (PostgreSQL) before the service's pool
    assert stop.is_set() and positions.get("test") == 0  # the 5 s wait was cut short


def test_a_failure_is_logged_by_its_type_and_place_never_its_message(monkeypatch):
    """A database error's message can quote the row it tripped over (a DETAIL with a
    phone number); the retry log line names the error's type and where it was raised."""
    from structlog.testing import capture_logs

    calls = []

    def step() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("Key (phone)=(13812345678) already exists")
        return "done"

    stop = threading.Event()
    retry = retrying("test.retry", stop, first=0.01, most=0.01)
    monkeypatch.setattr(retry, "sleep", lambda _: None)
    with capture_logs() as logs:
        assert retry(step) == "done"
    (line,) = [entry for entry in logs if entry["event"] == "test.retry"]
    assert line["error"].startswith("ValueError")
    assert "13812345678" not in repr(line)
