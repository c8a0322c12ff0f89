"""One relay at a time: the leader lock on each backend (a PostgreSQL advisory lock, a file
lock beside a SQLite database). A second holder waits; it gets the lock once the first
lets go, or dies."""

from __future__ import annotations

import threading

from parcelflow.adapters.leader import LeaderLock


def test_a_second_holder_waits_until_the_first_lets_go(database_url):
    first, second = LeaderLock(database_url, "relay-test"), LeaderLock(database_url, "relay-test",
                                                                       poll=0.05)
    other = LeaderLock(database_url, "relay-other-topic")
    assert first.acquire(threading.Event())
    assert other.acquire(threading.Event())  # a different name is a different lock
    gave_up = threading.Event()
    timer = threading.Timer(0.5, gave_up.set)
    timer.start()
    assert not second.acquire(gave_up), "two holders at once"
    assert first.held()
    got = threading.Event()
    waiter = threading.Thread(target=lambda: second.acquire(threading.Event()) and got.set())
    waiter.start()
    assert not got.wait(0.3)
    first.release()  # a relay that stops (or dies: the connection or the file goes with it)
    assert got.wait(5)
    waiter.join(5)
    for lock in (second, other):
        lock.release()
