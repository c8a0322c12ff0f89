"""The local Redis the shared rate-limit tests count in: required, never skipped; and a
Redis Sentinel in front of it, for the `redis+sentinel://` storage."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.serving import free_port
from tests.support.workers import wait_until

REDIS_URL = "redis://127.0.0.1:6379"
SENTINEL_SERVICE = "parcelflow"


def redis_required() -> None:
    """Fail loudly when Redis does not answer: these tests must not be skipped."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as e:
        raise RuntimeError(f"Redis is required for this test at {REDIS_URL}: {e}") from e


@contextmanager
def redis_sentinel(workdir: Path) -> Iterator[str]:
    """A Sentinel (`redis-server --sentinel`, Debian's redis-server) on a free port,
    watching the local Redis as its one master: the storage URL that reaches that master
    through it. It never fails the master over: there is no replica to promote."""
    port = free_port()
    conf = workdir / "sentinel.conf"  # Sentinel rewrites its own file: one of its own
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndaemonize no\n"
                    f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 6379 1\n"
                    f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 60000\n")
    log_path = workdir / "sentinel.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                   stdout=log, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, socket_connect_timeout=1)

    def answering() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"Redis Sentinel stopped on port {port}:\n"
                               f"{log_path.read_text()[-2000:]}")
        try:
            return bool(client.sentinel_get_master_addr_by_name(SENTINEL_SERVICE))
        except redis.RedisError:
            return False

    try:
        wait_until(answering, timeout=15, what=f"Redis Sentinel on port {port} ({log_path})")
        yield f"redis+sentinel://127.0.0.1:{port}/{SENTINEL_SERVICE}"
    finally:
        process.terminate()
        process.wait(timeout=10)
