"""Rebuilding a read model with several processes.

A rebuild is CPU work in Python (decode, apply, render) and one process uses one core.
The parcels are split into shares by id; each worker process rebuilds its share's rows
(`Runner.replay`). A parcel's rows come from one worker only, and every row is a
rendering of its parcel's state, so the shares do not interfere. The position is
recorded once, after every worker has finished: until then the view has no position,
and a crash leaves it to be replayed from the start.

On a sharded store each worker takes its share of every shard's parcels (by the same
test on the parcel id) up to that shard's head, and the view's position is recorded
per shard at the end (projections/sharded.py).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import json
from collections.abc import Callable, Sequence
from typing import Any

from parcelflow.projections.runner import Runner

Progress = Callable[[int, int, int], None]


def per_log(runner: Any) -> list[Runner]:
    """One runner per log feeding the view: its shards' (projections/sharded.py), or itself."""
    return list(getattr(runner, "runners", None) or [runner])


def _rebuild_share(urls: list[str], name: str, share: int, shares: int, uptos: list[int],
                   progress: mp.Queue) -> None:  # type: ignore[type-arg]
    from parcelflow.bootstrap import build_service
    from parcelflow.logs import configure_logging
    from parcelflow.projections.registry import runner
    from parcelflow.runtime import tune_gc
    from parcelflow.settings import Settings

    configure_logging(level="WARNING")
    tune_gc()
    store = ({"shards": json.dumps(urls)} if len(urls) > 1
             else {"database_url": urls[0], "shards": None})
    service = build_service(Settings(_env_file=None, **store), cache_size=0)  # type: ignore[call-arg,arg-type]
    worker = runner(service, name)
    try:
        done = 0
        for log_runner, upto in zip(per_log(worker), uptos, strict=True):
            mine = [pid for pid in log_runner.service.recorder.parcel_ids(upto)
                    if pid.int % shares == share]
            before = done
            done += log_runner.replay(
                mine, upto, lambda n, _, __, before=before: progress.put((share, before + n)))
    finally:
        worker.close()
        service.close()


def rebuild(runner: Any, urls: str | Sequence[str], *, workers: int,
            progress: Progress | None = None) -> tuple[int, float]:
    """Drop the view, replay the log into it with `workers` processes: (events, seconds).
    `urls`: the store's database URL, or its shards' (`Settings.shard_urls()`)."""
    started = time.perf_counter()
    urls = [urls] if isinstance(urls, str) else list(urls)
    logs = per_log(runner)
    runner.projection.view.drop()
    uptos = [r.follower.head() for r in logs]
    upto = sum(uptos)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rebuild_share,
                         args=(urls, runner.name, k, workers, uptos, queue))
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
    for log_runner, head in zip(logs, uptos, strict=True):
        log_runner.record_position(head)  # every share is written: the view stands for the log
    return sum(counts), time.perf_counter() - started
