"""Running one piece of work per shard side by side, in one process (the relay, the
checkpointer): one thread each; the first to fail stops the others and its error is
raised, so the command fails as it would on one store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


def run_per_shard(tasks: Sequence[Callable[[], None]], stop: threading.Event,
                  name: str) -> None:
    if len(tasks) == 1:  # one store: run as before, in this thread
        tasks[0]()
        return
    failed: list[BaseException] = []

    def run(task: Callable[[], None]) -> None:
        try:
            task()
        except BaseException as e:  # noqa: BLE001 — re-raised below, in the caller's thread
            failed.append(e)
            stop.set()

    threads = [threading.Thread(target=run, args=(t,), name=f"{name}-{i}")
               for i, t in enumerate(tasks)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():  # short joins: Ctrl-C still reaches this thread
            t.join(0.5)
    if failed:
        raise failed[0]
