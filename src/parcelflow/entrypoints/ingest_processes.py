"""`parcelflow ingest FILE` in several processes, side by side.

One process's ingest is Python under one GIL (bench/profiles/README.md: ~60 µs of CPU
a scan, the COPY costs the client little), so a second process on a second core nearly
doubles it; on PostgreSQL that is what two ingest workers do (bench/ingest.py, 2
processes: 1.6x one). Each process reads the whole file and keeps the lines of its own
parcels: a parcel is one process's by a stable hash of its tracking number, so each
parcel's scans are written in file order, by one writer, as when one process reads the
file. Reading and parsing the file twice costs ~8 µs a line in each process, against
the ~60 µs its own lines cost to record; handing lines from one reader to the others
would cost as much in pickling, and more code.

Lines that are not JSON are reported by the first process only. Each process sends its
summary back through a pipe; the command prints one summary for the file, as one
process would have. Should a process stop (the database went away), what the others
and it had written stays written, and running the same command again finishes the
file: a replayed file changes nothing.

Processes are forked before any connection, thread or progress display exists, so
each child opens its own store.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
import zlib
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import psycopg
import structlog
import typer

from parcelflow.entrypoints.cli_support import fail
from parcelflow.entrypoints.jsonlines import Line, open_input
from parcelflow.settings import Settings

log = structlog.get_logger(__name__)

Share = Callable[[str, Callable[[Line], bool], Callable[[int, int], None]], dict[str, Any]]


def how_many(settings: Settings, path: str, asked: int | None) -> int:
    """The processes to run: `asked`, else 2 on PostgreSQL with 2 or more CPUs, else 1."""
    postgres = all(url.startswith(("postgresql:", "postgres:")) for url in settings.shard_urls())
    if asked is None:
        return 2 if postgres and path != "-" and (os.cpu_count() or 1) >= 2 else 1
    if asked > 1 and path == "-":
        fail("--workers above 1 needs a file: standard input can be read only once", 2)
    if asked > 1 and not postgres:
        fail("--workers above 1 needs PostgreSQL: a SQLite file takes one writer at a time", 2)
    return asked


def owner(item: Any, count: int) -> int:
    """The process a line's parcel belongs to (0 for an item without a tracking number:
    its validation refuses it wherever it goes)."""
    number = item.get("tracking_no") if isinstance(item, dict) else None
    if not isinstance(number, str):
        return 0
    return zlib.crc32(number.encode("utf-8", "surrogatepass")) % count


def share_of(k: int, count: int) -> Callable[[Line], bool]:
    def mine(line: Line) -> bool:
        return k == 0 if line.error is not None else owner(line.item, count) == k
    return mine


def run(count: int, share: Share, path: str,
        progress: Callable[[], Any]) -> dict[str, Any]:
    """Run `share(path, mine, shown)` in `count` forked processes; one summary.
    `progress()`: a context manager giving the `shown(lines, accepted)` callback, entered
    only after the processes are forked (its display thread must not be forked)."""
    try:  # one message for a file that cannot be read, not one from each process
        open_input(path).close()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}", 2)
    fork = multiprocessing.get_context("fork")
    counters = [(fork.Value("q", 0, lock=False), fork.Value("q", 0, lock=False))
                for _ in range(count)]
    children, pipes = [], []
    for k in range(count):
        receive, send = fork.Pipe(duplex=False)
        child = fork.Process(target=_child, name=f"ingest-{k + 1}",
                             args=(share, path, k, count, counters[k], send))
        child.start()
        send.close()
        children.append(child)
        pipes.append(receive)
    answers: dict[int, tuple[str, Any]] = {}
    with progress() as shown:
        while len(answers) < count:
            for k, pipe in enumerate(pipes):
                if k in answers:
                    continue
                if pipe.poll(0.05):
                    try:
                        answers[k] = pipe.recv()
                    except EOFError:  # gone without a word: killed
                        answers[k] = ("failed", f"exit status {children[k].exitcode}")
            shown(sum(done.value for done, _ in counters),
                  sum(accepted.value for _, accepted in counters))
    for child in children:
        child.join()
    return _merged(answers, count)


def _merged(answers: dict[int, tuple[str, Any]], count: int) -> dict[str, Any]:
    exits = [code for kind, code in answers.values() if kind == "exit"]
    if exits:  # the child said why (cannot read the file): the same status here
        raise typer.Exit(max(exits))
    failed = [(k, why) for k, (kind, why) in sorted(answers.items()) if kind == "failed"]
    if failed:
        k, why = failed[0]
        fail(f"ingest process {k + 1} of {count} stopped ({why}); what was written is kept: "
             "run the same command again to finish the file (a replayed file changes nothing)")
    summaries = [summary for _, summary in answers.values()]
    rejected = sorted((r for s in summaries for r in s["rejected"]), key=lambda r: r["line"])
    return {"accepted": sum(s["accepted"] for s in summaries),
            "duplicates": sum(s["duplicates"] for s in summaries), "rejected": rejected}


def _why(e: BaseException) -> str:
    """What the user is told: a lost or refused connection with psycopg's first line (the
    server's address and what it said: something to act on), anything else by type."""
    if isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError)):
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
    return type(e).__name__


def _child(share: Share, path: str, k: int, count: int, counters: tuple[Any, Any],
           send: Connection) -> None:
    done, accepted = counters

    def shown(lines: int, took: int) -> None:
        done.value, accepted.value = lines, took

    try:
        send.send(("done", share(path, share_of(k, count), shown)))
    except typer.Exit as e:  # fail(): its message is printed already
        send.send(("exit", e.exit_code))
    except BaseException as e:  # noqa: BLE001 — reported by the parent, logged here
        # The type and where, not the message: it may quote a value from the file.
        frames = traceback.extract_tb(e.__traceback__)[-4:]
        log.error("ingest.process_failed", process=k + 1, error_type=type(e).__name__,
                  where=[f"{f.filename}:{f.lineno} in {f.name}" for f in frames])
        send.send(("failed", _why(e)))
    finally:
        send.close()
