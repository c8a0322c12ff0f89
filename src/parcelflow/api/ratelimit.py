"""Rate limits on the public lookup: per client address, per tracking number, and on
failed phone proofs per tracking number.

Sliding-window counters (the `limits` library) in the process's memory: two counters
per key whatever the limit, so a high limit costs no more than a low one (a moving
window keeps every hit and was measured eating an eighth of the lookup's time). Each
API process counts on its own: N replicas allow N times the configured rate, so set
the limit one replica should enforce.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from parcelflow import metrics
from parcelflow.api.problems import Problem


class Limit:
    def __init__(self, name: str, spec: str, limiter: SlidingWindowCounterRateLimiter):
        self.name = name
        self.item: RateLimitItem = parse(spec)
        self._limiter = limiter

    def hit(self, key: str) -> None:
        """Count one request for `key`; 429 with Retry-After when over the limit."""
        if not self._limiter.hit(self.item, self.name, key):
            self.refuse(key)

    def count(self, key: str) -> None:
        """Count one event for `key` without refusing anything now."""
        self._limiter.hit(self.item, self.name, key)

    def exhausted(self, key: str) -> bool:
        return not self._limiter.test(self.item, self.name, key)

    def refuse(self, key: str) -> None:
        stats = self._limiter.get_window_stats(self.item, self.name, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        metrics.RATE_LIMITED.labels(self.name).inc()
        raise Problem(429, "rate-limited", f"too many requests; retry in {retry} seconds",
                      headers={"Retry-After": str(retry)})


class LookupLimits:
    def __init__(self, per_address: str, per_parcel: str, proof_failures: str):
        limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.per_address = Limit("lookup_per_address", per_address, limiter)
        self.per_parcel = Limit("lookup_per_parcel", per_parcel, limiter)
        self.proof_failures = Limit("proof_failures_per_parcel", proof_failures, limiter)
