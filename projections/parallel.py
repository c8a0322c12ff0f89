"""Rebuilding a read model with several processes.

A rebuild is CPU work in Python (decode, apply, render) and one process uses one core.
The parcels are split into shares by id; each worker process reads the whole log,
keeps its own share's events and writes its parcels' rows. A parcel's rows come from
one worker only, and every row is a rendering of its parcel's state, so the shares do
not interfere. The position is recorded once, after every worker has finished: until
then the view has no position, and a crash leaves it to be replayed from the start.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable

from eventsourcing.persistence import Tracking

from parcelflow.projections.runner import Runner

Progress = Callable[[int, int, int], None]


def _rebuild_share(database_url: str, name: str, share: int, shares: int, upto: int,
                   batch: int, progress: mp.Queue) -> int:  # type: ignore[type-arg]
    from parcelflow.bootstrap import build_service
    from parcelflow.logs import configure_logging
    from parcelflow.projections.registry import runner
    from parcelflow.runtime import tune_gc
    from parcelflow.settings import Settings

    configure_logging(level="WARNING")
    tune_gc()
    service = build_service(Settings(database_url=database_url, _env_file=None),  # type: ignore[call-arg]
                            cache_size=0)
    worker = runner(service, name)
    position, done = 0, 0
    try:
        while position < upto:
            notes = service.recorder.select_notifications(
                start=position, limit=batch, stop=upto, inclusive_of_start=False)
            if not notes:
                break
            position = notes[-1].id
            mine = [n for n in notes if n.originator_id.int % shares == share]  # type: ignore[union-attr]
            events = [service.mapper.to_domain_event(n) for n in mine]
            worker.projection.commit(worker.projection.prepare(events), None)  # rows only
            done += len(mine)
            progress.put((share, done, position))
    finally:
        worker.close()
        service.close()
    return done


def rebuild(runner: Runner, database_url: str, *, workers: int,
            progress: Progress | None = None) -> tuple[int, float]:
    """Drop the view, replay the log into it with `workers` processes: (events, seconds)."""
    started = time.perf_counter()
    view = runner.projection.view
    view.drop()
    runner.projection.replica.forget()
    upto = runner.follower.head()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rebuild_share, args=(database_url, runner.name, k, workers, upto,
                                                      runner.REBUILD_BATCH, queue))
             for k in range(workers)]
    for p in procs:
        p.start()
    counts = [0] * workers
    reached = [0] * workers

    def report() -> None:
        while any(p.is_alive() for p in procs) or not queue.empty():
            try:
                share, done, position = queue.get(timeout=0.2)
            except Exception:  # noqa: BLE001 — queue.Empty: check the workers again
                continue
            counts[share], reached[share] = done, position
            if progress:
                progress(sum(counts), min(reached), upto)

    reporter = threading.Thread(target=report)
    reporter.start()
    for p in procs:
        p.join()
    reporter.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} rebuild worker(s) failed (exit {failed}); "
                           "the view has no position and will be replayed from the start")
    if upto:
        with view.writing(Tracking(runner.service.name, upto)):
            pass  # every share is written: now the view stands for the log up to `upto`
    return sum(counts), time.perf_counter() - started
