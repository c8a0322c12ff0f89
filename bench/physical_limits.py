"""The physical limits every benchmark is compared with, measured in the same run.

These machines vary by up to 2x between runs (two cores shared with PostgreSQL, the
broker and other work), so a bare figure says little; the same figure as a fraction
of what the hardware and the libraries underneath could do at that moment says how
much of the distance is ours. Each limit does the least the path could do and still
do its job:

- writes: a raw binary COPY of the same rows (read back from the store after the
  path wrote them) into a bare table shaped like the events table, in transactions
  of the same size (`copy_rows`);
- lookups: a bare prepared `SELECT` of the same row, one round trip (`bare_selects`);
- the log: a bare LISTEN seeing a NOTIFY sent after a commit (`notify_latency`);
- the relay: kafka-python's own producer sending messages of the same size and keys
  with the same settings (`kafka_produce_rate`);
- email: an SMTP sink accepting messages of the same size over one session
  (`smtp_accept_rate`).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# ---- writes ----------------------------------------------------------------------------

def stored_rows(url: str, after: int, upto: int | None = None) -> list[tuple]:
    """(originator_id, originator_version, topic, state) of the events after `after`."""
    with psycopg.connect(url) as conn, conn.cursor(row_factory=tuple_row, binary=True) as cur:
        cur.execute("SELECT originator_id, originator_version, topic, state FROM parcelflow_events "
                    "WHERE notification_id > %s AND notification_id <= %s "
                    "ORDER BY notification_id", (after, upto if upto is not None else 2**62))
        return cur.fetchall()


def head(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(
            "SELECT COALESCE(MAX(notification_id), 0) FROM parcelflow_events").fetchone()[0])


def copy_rows(url: str, rows: Sequence[tuple], batch: int) -> float:
    """Rows/s of a binary COPY of `rows`, `batch` to a transaction, into a bare table with
    the events table's shape (primary key, notification-id sequence and index): what
    the store's write costs without anything parcelflow or the library do around it."""
    table = f"limit_copy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (originator_id uuid NOT NULL, "
                     f"originator_version bigint NOT NULL, topic text, state bytea, "
                     f"notification_id bigserial, PRIMARY KEY (originator_id, originator_version))")
        conn.execute(f"CREATE UNIQUE INDEX ON {table} (notification_id)")
        try:
            started = time.perf_counter()
            for start in range(0, len(rows), batch):
                with conn.transaction(), conn.cursor() as cur, cur.copy(
                        f"COPY {table} (originator_id, originator_version, topic, state) "
                        f"FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea"])
                    for row in rows[start:start + batch]:
                        copy.write_row(row)
            took = time.perf_counter() - started
        finally:
            conn.execute(f"DROP TABLE {table}")
    return len(rows) / took


def when_due(start: float, i: int, rate: float | None) -> float:
    """Request i's due time: now in a closed loop; in an open loop start + i/rate,
    waited for. Latency counts from it, so queueing cannot hide (no coordinated
    omission)."""
    if rate is None:
        # Closed loop: every client starts at `start` (the rate is counted from it), so a
        # client that connected early waits for it rather than run ahead of the clock.
        if start > time.perf_counter():
            time.sleep(start - time.perf_counter())
        return time.perf_counter()
    due = start + i / rate
    if due > time.perf_counter():
        time.sleep(due - time.perf_counter())
    return due


# ---- lookups ---------------------------------------------------------------------------

def bare_selects(url: str, keys: Sequence[str], *, clients: int, rate: float | None = None,
                 statement: str = "SELECT * FROM tracking_view WHERE tracking_no = %s") -> dict:
    """The same rows read with a bare prepared SELECT, one round trip each, from `clients`
    threads with a connection each: closed loop, or open loop at `rate` per second with
    latency counted from each request's scheduled time (as the API benchmark does)."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def work(offset: int) -> None:
        mine = []
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement, [keys[0]], prepare=True).fetchone()
            for i in range(offset, len(keys), clients):
                due = when_due(start, i, rate)
                conn.execute(statement, [keys[i]], prepare=True).fetchone()
                mine.append(time.perf_counter() - due)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"rate": len(latencies) / elapsed, "p50": percentile(latencies, 0.5) * 1000,
            "p99": percentile(latencies, 0.99) * 1000}


# ---- the log ---------------------------------------------------------------------------

_LISTEN = """
import sys, time, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("LISTEN " + sys.argv[2])
    print("ready", flush=True)
    for _ in conn.notifies():
        print(time.time(), flush=True)
"""


class NotifyWatch:
    """A bare LISTEN on the events table's channel, in a process of its own (so that
    the benchmark's own work does not delay it): when each NOTIFY arrives, by the wall
    clock. The store sends one with every committed insert, so the time from a batch's
    commit to its NOTIFY here is the least any follower could lag."""

    def __init__(self, url: str, channel: str = "parcelflow_events"):
        import subprocess
        import sys

        self.arrivals: list[float] = []
        self._process = subprocess.Popen([sys.executable, "-c", _LISTEN, url, channel],
                                         stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self._process.stdout.readline()  # "ready"
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.arrivals.append(float(line))

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)
        self._thread.join(5)


def notify_latency(commits: Sequence[float], arrivals: Sequence[float]) -> dict:
    """For each commit time (time.time()), the first NOTIFY seen at or after it."""
    lags, j = [], 0
    ordered = sorted(arrivals)
    for committed in commits:
        while j < len(ordered) and ordered[j] < committed:
            j += 1
        if j < len(ordered):
            lags.append((ordered[j] - committed) * 1000)
    return {"p50": percentile(lags, 0.5), "p99": percentile(lags, 0.99),
            "mean": statistics.mean(lags) if lags else float("nan"), "count": len(lags)}


# ---- Kafka -----------------------------------------------------------------------------

def kafka_produce_rate(producer: Any, topic: str, messages: Sequence[tuple[bytes, bytes]],
                       *, headers: Any = None, batch: int = 1000) -> float:
    """Messages/s kafka-python itself reaches sending these (key, value) pairs with this
    producer, waiting for every batch's acknowledgements as the relay does (send
    `batch`, flush, check every future, next)."""
    for key, value in messages[:200]:  # connect, fetch metadata: not timed
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    started = time.perf_counter()
    for start in range(0, len(messages), batch):
        futures = [producer.send(topic, key=k, value=v, headers=headers)
                   for k, v in messages[start:start + batch]]
        producer.flush()
        for f in futures:
            f.get(timeout=60)
    return len(messages) / (time.perf_counter() - started)


# ---- SMTP ------------------------------------------------------------------------------

def smtp_accept_rate(smtp_url: str, message: bytes, count: int, *, sessions: int = 1) -> float:
    """Messages/s an SMTP server accepts of this size, `count` over `sessions` parallel
    sessions (one message per MAIL FROM/RCPT TO/DATA), from smtplib."""
    import smtplib
    from urllib.parse import urlsplit

    parts = urlsplit(smtp_url)

    def send(n: int) -> None:
        with smtplib.SMTP(parts.hostname, parts.port or 25, timeout=30) as smtp:
            for _ in range(n):
                smtp.sendmail("noreply@parcelflow.local", ["bench@example.com"], message)

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(count // sessions,)) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (count // sessions) * sessions / (time.perf_counter() - started)
