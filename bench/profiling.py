"""Profiling a benchmark's timed stretch with py-spy, and saying where its time went.

    with profiled("ingest-warm", items=22_000, unit="scan"):   # this process
        ...
    with profiled("lookup", pid=server.pid, items=5000, unit="request"):   # another one
        ...

Does nothing unless a benchmark was given `--profile DIR` (`enable(DIR)`). Then py-spy
is attached to the process for exactly the block (set-up and tear-down stay out of the
picture), sampling every thread at `RATE` Hz including waits (`--idle`), so time spent
waiting on PostgreSQL, Kafka or a socket shows as such. On leaving the block it writes,
under DIR:

- `NAME.txt`: the collapsed stacks py-spy recorded (one line per distinct stack);
- `NAME.svg`: a flame graph of them, coloured by cost category (`flame.render`);
- `NAME.json`: the attribution: thread-time per category, in microseconds per item and
  percent, with the functions that cost the most (`attribute`).

Thread-time: the samples of every thread that was doing something, so a server's
request threads and event loop add up (their sum may exceed the wall time). Threads
waiting for work (an idle pool worker, an event loop with nothing to do) are counted
apart as "idle" and left out of the per-item figures.

py-spy writes either a flame graph or the raw stacks in one run, not both; the raw
stacks are what the attribution needs, so the SVG is drawn here from them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RATE = 200  # samples per second per thread
_DIR: Path | None = None


def enable(directory: str | Path | None) -> None:
    global _DIR
    _DIR = Path(directory) if directory else None
    if _DIR is not None:
        _DIR.mkdir(parents=True, exist_ok=True)


def enabled() -> bool:
    return _DIR is not None


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


@contextmanager
def profiled(name: str, *, items: int, unit: str, pid: int | None = None,
             native: bool = False, subprocesses: bool = False) -> Iterator[None]:
    """Profile the block (this process, or `pid`) when profiling is enabled."""
    if _DIR is None:
        yield
        return
    target = pid or os.getpid()
    raw = _DIR / f"{name}.txt"
    command = [_py_spy(), "record", "--pid", str(target), "--format", "raw", "--idle",
               "--threads", "--rate", str(RATE), "--output", str(raw)]
    if native:
        command.append("--native")
    if pid is not None and pid != os.getpid():
        # Another process (a server, a worker): sample without pausing it. Pausing a
        # process with dozens of threads 200 times a second was measured cutting a
        # server's lookup rate from 1,000 to ~100 a second; an occasional torn stack is
        # the price, and the attribution is by share, which it hardly moves.
        command.append("--nonblocking")
    if subprocesses:
        command.append("--subprocesses")
    # py-spy says on stdout when it samples: only then does the block start.
    spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert spy.stdout is not None
    for line in spy.stdout:
        if "Sampling process" in line:
            break
    else:
        raise RuntimeError(f"py-spy could not attach to {target}")
    started = time.perf_counter()
    try:
        yield
    finally:
        wall = time.perf_counter() - started
        spy.send_signal(signal.SIGINT)
        spy.communicate(timeout=300)
        report(name, raw, items=items, unit=unit, wall=wall, pid=target)


def run_profiled(name: str, command: list[str], *, items: int, unit: str,
                 **popen: Any) -> float:
    """Run `command` to its end, under py-spy when profiling is enabled (from its first
    instruction: start-up and imports are part of what a user waits for); its wall time."""
    started = time.perf_counter()
    if _DIR is None:
        subprocess.run(command, check=True, **popen)
        return time.perf_counter() - started
    raw = _DIR / f"{name}.txt"
    subprocess.run([_py_spy(), "record", "--format", "raw", "--idle", "--threads", "--rate",
                    str(RATE), "--output", str(raw), "--", *command], check=True, **popen)
    wall = time.perf_counter() - started
    report(name, raw, items=items, unit=unit, wall=wall, pid=0)
    return wall


# ---- attribution --------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    category: str
    pattern: re.Pattern[str]


def _rules(*pairs: tuple[str, str]) -> list[Rule]:
    return [Rule(c, re.compile(p)) for c, p in pairs]


# First match wins, tried against the whole stack ("thread (tid): name;root;...;leaf",
# each frame "Qualified.name (path:line)"), so the order goes from the most particular
# to the most general. The categories are the ones the profile README speaks in.
def _f(name: str, path: str = "") -> str:
    """A frame: `name` (a qualified name's last parts) in a file whose path contains `path`."""
    return rf"(?<![^;.])(?:{name}) \([^)]*(?:{path})[^)]*\)"


RULES = _rules(
    # Not the path's work: pools and loops waiting for something to do, a follower
    # waiting for the log to grow, kafka-python's background threads between requests,
    # and a thread waiting on another of ours (whose own samples count).
    ("idle", rf"{_f('ConnectionPool.worker', 'psycopg_pool')}|{_f('Scheduler.run', 'psycopg_pool')}"
             rf"|{_f('_worker', 'concurrent/futures/thread.py')}$"
             rf"|{_f('_worker', 'concurrent/futures/thread.py')};{_f('SimpleQueue.get|Queue.get')}"
             rf"|{_f('_run_once', 'asyncio/base_events.py')};{_f('EpollSelector.select|select', 'selectors.py')}"
             rf"|{_f('LogFollower._listen')}|{_f('LogFollower.batches')};{_f('Event.wait')}"
             rf"|{_f('Sender.run|HeartbeatThread.run|Sender.run_once', 'kafka/')}.*{_f('select|poll|wait', 'selectors.py|threading.py')}"
             rf"|{_f('KafkaConsumer.poll|KafkaConsumer._poll_once', 'kafka/consumer')}.*{_f('select', 'selectors.py')}"
             rf"|{_f('Future.result', 'concurrent/futures/_base.py')}"
             rf"|{_f('Thread.join|_wait_for_tstate_lock', 'threading.py')}$"
             rf"|{_f('WorkerThread.run', 'anyio/')};{_f('Queue.get', 'queue.py')}"
             rf"|{_f('Runner.run', 'asyncio/runners.py')}$"
             r"|^thread \([^)]*\)(: [^;]*)?$"
             # a command's main thread waiting for its signal while its workers run
             rf"|parcelflow/entrypoints/[^;]*;{_f('Event.wait', 'threading.py')};{_f('Condition.wait', 'threading.py')}$"),
    # Requests queued behind another's write (`ApiContext.write` serialises them): the
    # running one's samples count; these are waiting time, not work.
    ("idle: queued for the API's write lock", _f("ApiContext.write", "api/context.py") + "$"),
    ("interpreter start-up and imports", r"_find_and_load|_call_with_frames_removed|exec_module"),
    ("gc", r";(gc_collect|collect_with_callback|gc_collect_main|gc_collect_region)"),
    ("logging (structlog)", r"structlog/|parcelflow/logs\.py"),
    ("metrics (prometheus_client)", r"prometheus_client/"),
    ("Kafka: waiting for the broker's acknowledgements",
     _f("KafkaProducer.flush|FutureRecordMetadata.get|FutureProduceResult.wait|Future.get", "kafka/")),
    ("JSON parse of the input", _f("read_lines", "entrypoints/jsonlines.py") + "|" + _f("read_json", "api/http.py")),
    ("validation (pydantic, wire format)", _f("validate_scans|validate_scan|validate_manifests", "parcelflow/wire")),
    ("hashing (event chain, chain.digest)", _f("digest", "domain/chain.py")),
    ("sealing / opening personal data", r"parcelflow/adapters/(sealing|keystore)\.py|parcelflow/application/personal_data\.py"),
    ("store write: table lock", _f("_lock_table", "eventsourcing/postgres.py")),
    ("store write: COPY", _f("insert_events", "adapters/store.py") + r".*" + _f("Cursor.copy|Copy\.[\w_]+|LibpqWriter\.[\w_]+", "psycopg")),
    ("store write: commit", _f("insert_events", "adapters/store.py") + r".*" + _f("Transaction.__exit__", "psycopg")),
    ("store write: max id, ids read back, notify", _f("insert_events|_insert_events|_notify_channel", "store.py|eventsourcing/postgres.py")),
    ("transcoding (events <-> JSON)", _f("Mapper.to_stored_event|Mapper.to_domain_event|OrjsonTranscoder\.\w+|JSONTranscoder\.\w+", "")),
    ("loading parcels: query", _f("select_events_for", "")),
    ("loading parcels: replay", _f("replay", "application/service.py")),
    ("conflict / staleness checks", _f("ParcelService._stale|ParcelService._conflicted|max_versions", "")),
    ("deriving state (Timeline.state)", _f("Timeline.state", "domain/timeline.py")),
    ("applying events (Event.on, Timeline.add)", _f("Parcel\.\w+\.on|Parcel.Event.apply|Timeline.add|Parcel._add_entry", "domain/parcel.py|domain/timeline.py") + "|" + _f("CanMutateAggregate.mutate|BaseAggregate._mutate|.*mutate", "eventsourcing/domain.py")),
    ("reconcile (exceptions vs timeline)", _f("Parcel.reconcile", "domain/parcel.py")),
    ("making events (trigger_event, dataclasses)", _f("BaseAggregate.trigger_event|BaseAggregate._create|Aggregate._create|collect_events|__create_fn__.*|Parcel._emit|Parcel.record_scans", "")),
    ("wire scan -> domain Scan", _f("scan_from_wire|ParcelService.to_scan|ParcelService._scan_work", "application/service.py")),
    # The API's own steps, before the frameworks that call them.
    ("lookup: the tracking-view SELECT", _f("TrackingRows.get", "api/tracking.py")),
    ("lookup: phone proof (HMAC, parcel load on a miss)", _f("PhoneProofs\.\w+", "api/tracking.py")),
    ("rate limits (limits library)", r"parcelflow/api/ratelimit\.py|limits/"),
    ("API answer: JSON encoding", _f("json_response|JSONResponse.render|ORJSONResponse.render", "")),
    ("API auth (credential lookup, signatures)", r"parcelflow/api/auth\.py|parcelflow/adapters/credentials\.py"),
    ("API idempotency / request log", r"parcelflow/adapters/request_log\.py|answer_once \(parcelflow/api/http"),
    ("API middleware (request id, access log)", r"parcelflow/api/middleware\.py"),
    ("API: facility scoping, results", _f("ingest_for|summary", "api/routers/scans.py")),
    # Frameworks: only where none of our code runs below them.
    ("HTTP framing (uvicorn, httptools)", r"(uvicorn/protocols|httptools|h11/|asyncio/selector_events|asyncio/streams|uvloop)(?!.*parcelflow/)"),
    ("ASGI / FastAPI / starlette / anyio", r"(fastapi/|starlette/|anyio/|uvicorn/)(?!.*parcelflow/)"),
    ("view write: COPY + upsert", _f("ViewStore.upsert", "projections/base.py")),
    ("view write: commit + position", _f("ViewStore.writing|\w+._insert_tracking", "")),
    ("reading the log (query)", _f("\w+.select_notifications", "")),
    ("rendering rows / answers", r"projections/(tracking_view|exception_queue|daily_stats|cases)\.py|parcelflow/(api/tracking|application/tracking_document)\.py|parcelflow/domain/privacy|parcelflow/application/describe|parcelflow/domain/eta"),
    ("CloudEvents: building and encoding", r"consumers/parcel_events\.py|cloudevents/"),
    ("Kafka client (kafka-python)", r"kafka/"),
    ("relay: position save, lock check, tracking numbers", _f("PositionStore\.\w+|LeaderLock\.\w+|Relay._tracking_numbers|Relay._report_lag", "")),
    ("SMTP: waiting for the server's replies", _f("SMTP\.\w+", "smtplib") + r".*" + _f("SocketIO.readinto|socket.recv|readline", "")),
    ("SMTP client", r"smtplib|parcelflow/adapters/smtp\.py|aiosmtplib|email/"),
    ("notification decisions and messages", r"consumers/notifications/|jinja2/"),
    ("detectors (queries, decisions)", r"parcelflow/(application/detectors|projections/watchlist|domain/detection|domain/sla)"),
    ("database round trips (other psycopg)", r"psycopg"),
    ("ingest bookkeeping (grouping, dedup, cache, results)", _f("ParcelService.ingest|ParcelService._run_batch.*|ParcelService._load|ParcelService.register", "application/service.py")),
)


def classify(stack: str) -> str:
    for rule in RULES:
        if rule.pattern.search(stack):
            return rule.category
    return "other"


def _strip_native(frame: str) -> bool:
    return "(" in frame and (".so" in frame or frame.startswith("0x"))


def _python_leaf(frames: list[str]) -> str:
    for frame in reversed(frames):
        if not _strip_native(frame):
            return frame
    return frames[-1]


def parse(raw: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def attribute(stacks: list[tuple[list[str], int]], *, items: int, rate: int = RATE,
              wall: float | None = None) -> dict:
    by_category: Counter[str] = Counter()
    by_function: dict[str, Counter[str]] = defaultdict(Counter)
    threads: Counter[str] = Counter()
    for frames, count in stacks:
        category = classify(";".join(frames))
        by_category[category] += count
        if not category.startswith("idle"):
            threads[frames[0]] += count
            by_function[category][_python_leaf(frames)] += count
    busy = sum(n for c, n in by_category.items() if not c.startswith("idle"))
    per_sample_us = 1e6 / rate
    rows = []
    for category, n in by_category.most_common():
        if category.startswith("idle"):
            continue
        rows.append({
            "category": category,
            "percent": round(100 * n / busy, 1) if busy else 0.0,
            "us_per_item": round(n * per_sample_us / items, 2) if items else None,
            "top": [{"frame": f, "percent": round(100 * k / busy, 1)}
                    for f, k in by_function[category].most_common(4)],
        })
    return {
        "items": items,
        "wall_seconds": round(wall, 3) if wall else None,
        "wall_us_per_item": round(wall * 1e6 / items, 2) if wall and items else None,
        "thread_us_per_item": round(busy * per_sample_us / items, 2) if items else None,
        "busy_samples": busy,
        "idle_samples": {c: n for c, n in by_category.items() if c.startswith("idle")},
        "threads": {t: round(100 * n / busy, 1) for t, n in threads.most_common(6)} if busy else {},
        "categories": rows,
    }


def report(name: str, raw: Path, *, items: int, unit: str, wall: float, pid: int) -> dict:
    from flame import render  # bench/flame.py

    stacks = parse(raw)
    result = {"name": name, "unit": unit, "pid": pid, **attribute(stacks, items=items, wall=wall)}
    raw.with_suffix(".json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    busy = [(f, n) for f, n in stacks if not classify(";".join(f)).startswith("idle")]
    raw.with_suffix(".svg").write_text(render(
        busy, title=f"{name}: {items:,} {unit}s, {wall:.1f} s wall "
                    f"({result['thread_us_per_item']} thread-µs per {unit})",
        colour=classify, order=[r.category for r in RULES]))
    print(f"profile {name}: {raw.with_suffix('.svg')} — {result['thread_us_per_item']} "
          f"thread-µs per {unit} (wall {result['wall_us_per_item']} µs)", flush=True)
    for row in result["categories"][:8]:
        print(f"    {row['percent']:5.1f}%  {row['us_per_item']:8.1f} µs  {row['category']}")
    return result


def main() -> None:
    """Re-attribute saved raw stacks: python bench/profiling.py DIR/NAME.txt ITEMS UNIT WALL"""
    raw, items, unit, wall = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    report(raw.stem, raw, items=items, unit=unit, wall=wall, pid=0)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
