"""Rebuilding a read model with several processes.

A rebuild is CPU work in Python (decode, apply, render) and one process uses one core.
The parcels are split into shares by id; each worker process rebuilds its share's rows
(`Runner.replay`). A parcel's rows come from one worker only, and every row is a
rendering of its parcel's state, so the shares do not interfere. The position is
recorded once, after every worker has finished: until then the view has no position,
and a crash leaves it to be replayed from the start.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Callable

from parcelflow.projections.runner import Runner

Progress = Callable[[int, int, int], None]


def _rebuild_share(database_url: str, name: str, share: int, shares: int, upto: int,
                   progress: mp.Queue) -> None:  # type: ignore[type-arg]
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
    try:
        mine = [pid for pid in service.recorder.parcel_ids(upto) if pid.int % shares == share]
        worker.replay(mine, upto, lambda done, _, __: progress.put((share, done)))
    finally:
        worker.close()
        service.close()


def rebuild(runner: Runner, database_url: str, *, workers: int,
            progress: Progress | None = None) -> tuple[int, float]:
    """Drop the view, replay the log into it with `workers` processes: (events, seconds)."""
    started = time.perf_counter()
    runner.projection.view.drop()
    upto = runner.follower.head()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rebuild_share,
                         args=(database_url, runner.name, k, workers, upto, queue))
             for k in range(workers)]
    for p in procs:
        p.start()
    counts = [0] * workers

    def report() -> None:
        while any(p.is_alive() for p in procs) or not queue.empty():
            try:
                share, done = queue.get(timeout=0.2)
            except Exception:  # noqa: BLE001 — queue.Empty: check the workers again
                continue
            counts[share] = done
            if progress:
                progress(sum(counts), sum(counts), upto)

    reporter = threading.Thread(target=report)
    reporter.start()
    for p in procs:
        p.join()
    reporter.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} rebuild worker(s) failed (exit {failed}); "
                           "the view has no position and will be replayed from the start")
    runner.record_position(upto)  # every share is written: the view stands for the log
    return sum(counts), time.perf_counter() - started
