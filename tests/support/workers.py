"""The pipeline's workers in threads of this process, started and stopped together:
ingest worker, relay, tracking-view follower, notification worker (each with a service
of its own, as separate processes would have)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from parcelflow.adapters.sms import RecordingSmsProvider
from parcelflow.bootstrap import build_service
from parcelflow.settings import Settings


class Pipeline:
    def __init__(self, settings: Settings, *, clock: Callable[[], Any] | None = None):
        self.settings = settings
        self.clock = clock
        self.stop = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self.parts: dict[str, Any] = {}
        self.sms = RecordingSmsProvider()
        self._services: list[Any] = []

    def _service(self, **kwargs: Any) -> Any:
        if self.clock is not None:
            kwargs["clock"] = self.clock
        svc = build_service(self.settings, **kwargs)
        self._services.append(svc)
        return svc

    def _run(self, name: str, part: Any, target: Callable[[threading.Event], None]) -> None:
        self.parts[name] = part
        thread = threading.Thread(target=target, args=(self.stop,), name=name, daemon=True)
        self.threads[name] = thread
        thread.start()

    def start(self, *names: str) -> Pipeline:
        from parcelflow.consumers.ingest_worker import build_ingest_worker
        from parcelflow.consumers.notifications.worker import build_notify_worker
        from parcelflow.consumers.relay import build_relay
        from parcelflow.projections.registry import runner

        for name in names or ("ingest", "relay", "tracking", "notify"):
            if name == "ingest":
                worker = build_ingest_worker(self._service(cache_size=200_000), self.settings)
                self._run(name, worker, worker.run)
            elif name == "relay":
                relay = build_relay(self._service(cache_size=0), self.settings)
                self._run(name, relay, relay.run)
            elif name == "tracking":
                follower = runner(self._service(cache_size=0), "tracking")
                self._run(name, follower,
                          lambda stop, r=follower: r.run(follow=True, stop=stop))
            elif name == "notify":
                worker = build_notify_worker(self._service(cache_size=0), self.settings,
                                             sms=self.sms)
                self._run(name, worker, worker.run)
        return self

    def alive(self) -> dict[str, bool]:
        return {name: t.is_alive() for name, t in self.threads.items()}

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads.values():
            thread.join(timeout=20)
        for part in self.parts.values():
            part.close()
        for svc in self._services:
            svc.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)
