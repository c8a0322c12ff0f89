"""Rate limits: public lookups per client address and per tracking number, failed phone
proofs per client address (over all parcels, and on each parcel), and the operations
routes per client address.

Sliding-window counters (the `limits` library): two counters per key whatever the
limit, so a high limit costs no more than a low one (a moving window keeps every hit and
was measured eating an eighth of the lookup's time). Where they are counted is
`PARCELFLOW_RATE_LIMIT_STORAGE`: `memory://` counts in each API process (N processes or
replicas then allow N times the rate), a shared store such as `redis://host:6379` counts
across all of them. The API says at start-up which one it uses.

On a Redis store a lookup's two counts (per address, then per tracking number) are made
in one round trip (`_HitsInOrder`): each call through redis-py cost ~100 µs of the API
process's CPU, and a lookup made two.

A shared store that cannot be reached does not take the API down: the request is let
through and the failure logged (and counted), because refusing every customer's lookup
while Redis restarts would be worse than a few minutes without limits.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from limits import RateLimitItem, parse
from limits.storage import (
    MemoryStorage,
    RedisSentinelStorage,
    RedisStorage,
    Storage,
    storage_from_string,
)
from limits.strategies import SlidingWindowCounterRateLimiter

from parcelflow import metrics
from parcelflow.api.problems import Problem

log = structlog.get_logger(__name__)


class Limit:
    def __init__(self, name: str, spec: str, limiter: SlidingWindowCounterRateLimiter,
                 prefix: str = ""):
        self.name = name
        self.item: RateLimitItem = parse(spec)
        self._limiter = limiter
        self._namespace = f"{prefix}:{name}" if prefix else name

    def hit(self, key: str) -> None:
        """Count one request for `key`; 429 with Retry-After when over the limit."""
        if not self._call(self._limiter.hit, key, default=True):
            self.refuse(key)

    def storage_key(self, key: str) -> str:
        """The key the library counts `key` under (before the storage's own prefix)."""
        return self.item.key_for(self._namespace, key)

    def count(self, key: str) -> None:
        """Count one event for `key` without refusing anything now."""
        self._call(self._limiter.hit, key, default=True)

    def exhausted(self, key: str) -> bool:
        return not self._call(self._limiter.test, key, default=True)

    def refuse(self, key: str) -> None:
        try:
            stats = self._limiter.get_window_stats(self.item, self._namespace, key)
            retry = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception:  # noqa: BLE001 — the store went away: a plausible wait
            retry = int(self.item.get_expiry())
        metrics.RATE_LIMITED.labels(self.name).inc()
        raise Problem(429, "rate-limited", f"too many requests; retry in {retry} seconds",
                      headers={"Retry-After": str(retry)})

    def _call(self, method, key: str, *, default: bool) -> bool:  # type: ignore[no-untyped-def]
        try:
            return bool(method(self.item, self._namespace, key))
        except Exception as e:  # noqa: BLE001 — see the module's docstring
            store_unavailable(self.name, e)
            return default


def store_unavailable(limit: str, error: Exception) -> None:
    metrics.RATE_LIMIT_STORE_ERRORS.inc()
    log.warning("rate_limit.store_unavailable", limit=limit, error_type=type(error).__name__)


class _HitsInOrder:
    """Several sliding-window hits in one Redis round trip, in order, stopping at the
    first refused: what `hit` on each limit in turn does, where each later limit is
    counted only when the earlier ones let the request through.

    The script is the library's own acquire script (`acquire_sliding_window.lua`, the
    same text its `hit` runs), wrapped as a Lua function and called once per limit with
    the keys and arguments `RedisStorage.acquire_sliding_window_entry` gives it. It
    uses the storage's key naming (`prefixed_key`, `_current_window_key`,
    `_previous_window_key`); tests/integration/test_rate_limit_redis.py checks that the
    library's own `test` and `hit` see these counts, and that these see the library's.
    Not for Redis Cluster: one script's keys must be on one node, and the limits' keys
    are not (the cluster storage keeps the library's one call a limit)."""

    WRAPPED = ("local function acquire(KEYS, ARGV)\n{body}\nend\n"
               "for i = 0, #KEYS / 2 - 1 do\n"
               "  if not acquire({{KEYS[2 * i + 1], KEYS[2 * i + 2]}},\n"
               "                 {{ARGV[3 * i + 1], ARGV[3 * i + 2], ARGV[3 * i + 3]}}) then\n"
               "    return i + 1\n"
               "  end\n"
               "end\n"
               "return 0\n")

    def __init__(self, storage: RedisStorage):
        self._storage = storage
        body = storage.SCRIPT_ACQUIRE_SLIDING_WINDOW  # the library's file, as bytes
        body = body.decode() if isinstance(body, bytes) else body
        self._script = storage.get_connection().register_script(self.WRAPPED.format(body=body))

    @staticmethod
    def usable(storage: Storage) -> bool:
        return type(storage) in (RedisStorage, RedisSentinelStorage)

    def hit(self, hits: list[tuple[Limit, str]]) -> tuple[Limit, str] | None:
        """The first limit and key that refused (not counted, nor any after it), or
        None when all were counted."""
        keys: list[str] = []
        args: list[int] = []
        for limit, key in hits:
            counted = limit.storage_key(key)
            keys += [self._storage.prefixed_key(self._storage._previous_window_key(counted)),
                     self._storage.prefixed_key(self._storage._current_window_key(counted))]
            args += [limit.item.amount, limit.item.get_expiry(), 1]
        refused = int(self._script(keys, args))
        return hits[refused - 1] if refused else None


def shown_storage(url: str) -> str:
    """The storage URL for a log line: without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class SweptMemoryStorage(MemoryStorage):
    """`memory://` counters without the library's expiry thread.

    limits' MemoryStorage starts a new `threading.Timer` every 10 ms while any key
    exists, and each one walks every key: 23% of the lookup's samples at 1,000 requests
    a second (bench/profiles/README.md §5). Reading a counter already drops it when it
    has expired (`MemoryStorage.get`), so the counts never needed the thread; it only
    bounds memory. Here that is done a few keys at a time on each count instead, over a
    snapshot of the keys taken when the previous round ended: every key is checked once
    a round, and dropped, as the library's `get` drops it, when it has expired. So a key
    nobody counts again is gone within two rounds (counts ~ keys / SWEEP_PER_COUNT).
    The moving window (not used here) keeps the library's sweep, at most once a second.
    """

    SWEEP_PER_COUNT = 4

    def __init__(self, uri: str | None = None, **options: Any):
        super().__init__(uri, **options)
        self.timer.cancel()  # the one the library's __init__ started
        self._sweeping = threading.Lock()
        self._round: list[str] = []
        self._full_sweep_at = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # the library's hook (name-mangled)
        if not self._sweeping.acquire(blocking=False):
            return  # another thread is sweeping: this count needs none
        try:
            if not self._round:
                self._round = list(self.expirations)  # one C-level copy a round
            now = time.time()
            for _ in range(min(self.SWEEP_PER_COUNT, len(self._round))):
                key = self._round.pop()
                if self.expirations.get(key, math.inf) <= now:
                    self.storage.pop(key, None)
                    self.expirations.pop(key, None)
                    self.locks.pop(key, None)
            if self.events and now - self._full_sweep_at >= 1.0:
                self._full_sweep_at = now
                self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweeping.release()


def open_storage(url: str) -> Storage:
    if url.split("://", 1)[0] == "memory":
        return SweptMemoryStorage(url)
    return storage_from_string(url)


class LookupLimits:
    def __init__(self, per_address: str, per_parcel: str, proof_failures: str, *,
                 proof_failures_per_address: str = "30/hour", ops_per_address: str = "120/minute",
                 storage: str = "memory://", prefix: str = "parcelflow"):
        self.storage_url = storage
        store = open_storage(storage)
        limiter = SlidingWindowCounterRateLimiter(store)
        self.shared = not storage.startswith("memory://")
        self._in_order = _HitsInOrder(store) if _HitsInOrder.usable(store) else None

        def limit(name: str, spec: str) -> Limit:
            return Limit(name, spec, limiter, prefix)

        self.per_address = limit("lookup_per_address", per_address)
        self.per_parcel = limit("lookup_per_parcel", per_parcel)
        # Failed proofs are counted per client address: on each parcel (a guesser stops
        # after a few tries at one parcel) and over all parcels (or at many). Never per
        # parcel alone: then anyone's wrong guesses would lock the real receiver out.
        self.proof_failures = limit("proof_failures_per_parcel_and_address", proof_failures)
        self.proof_failures_per_address = limit("proof_failures_per_address",
                                                proof_failures_per_address)
        self.ops_per_address = limit("ops_per_address", ops_per_address)

    def count_lookup(self, address: str, tracking_no: str) -> None:
        """Count one public lookup per client address, then (if the address may still
        look) per tracking number; 429 from the first limit that refuses it."""
        hits = [(self.per_address, address), (self.per_parcel, tracking_no)]
        if self._in_order is None:
            for limit, key in hits:
                limit.hit(key)
            return
        try:
            refused = self._in_order.hit(hits)
        except Exception as e:  # noqa: BLE001 — see the module's docstring
            store_unavailable(",".join(limit.name for limit, _ in hits), e)
            return
        if refused is not None:
            limit, key = refused
            limit.refuse(key)

    def check_proofs(self, address: str, tracking_no: str) -> None:
        """429 when this client may not try a proof on this parcel now."""
        for limit, key in self._proof_keys(address, tracking_no):
            if limit.exhausted(key):
                limit.refuse(key)

    def _proof_keys(self, address: str, tracking_no: str) -> list[tuple[Limit, str]]:
        return [(self.proof_failures_per_address, address),
                (self.proof_failures, f"{address}|{tracking_no}")]

    def proof_failed(self, address: str, tracking_no: str) -> None:
        for limit, key in self._proof_keys(address, tracking_no):
            limit.count(key)

    def describe(self) -> str:
        where = "shared" if self.shared else "in this process only"
        return f"{shown_storage(self.storage_url)} ({where})"
