"""The local Redis the shared rate-limit tests count in: required, never skipped."""

from __future__ import annotations

import redis

REDIS_URL = "redis://127.0.0.1:6379"


def redis_required() -> None:
    """Fail loudly when Redis does not answer: these tests must not be skipped."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as e:
        raise RuntimeError(f"Redis is required for this test at {REDIS_URL}: {e}") from e
