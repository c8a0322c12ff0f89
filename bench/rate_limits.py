"""A public lookup's rate-limit counting on a shared Redis store, CPU and wall time per
lookup in this process, beside a bare Redis round trip measured in the same run.

    .venv/bin/python bench/rate_limits.py [--redis redis://127.0.0.1:6379] [--lookups 4000]
                                          [--rounds 3] [--json FILE]

Each lookup is counted per client address and per tracking number (`LookupLimits.
count_lookup`), with limits high enough never to refuse. Three ways, alternating round
by round so the machine's load falls on each alike:
- one call a limit: the library's `hit` for each limit in turn (what a lookup made before
  `_HitsInOrder`, and what a Redis Cluster store still makes);
- one trip: `count_lookup`, both counts in one script;
- the limit: a bare `PING` on redis-py's client, one round trip with no script.
CPU is `time.process_time()` (this process only: Redis's own time is not in it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from figures import Figure, write

from parcelflow.api.ratelimit import LookupLimits


def timed(lookups: int, one: Callable[[int], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(lookups):
        one(i)
    return ((time.perf_counter() - wall) / lookups * 1e6,
            (time.process_time() - cpu) / lookups * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="write the figure for bench/run_all.py")
    args = parser.parse_args()
    limits = LookupLimits("1000000/minute", "1000000/minute", "5/hour", storage=args.redis,
                          prefix=f"parcelflow-bench-{uuid.uuid4().hex[:8]}")
    if limits._in_order is None:
        sys.exit(f"{args.redis} is not a plain Redis store: there is no one-trip path to measure")
    bare = redis.Redis.from_url(args.redis)

    def per_limit(i: int) -> None:
        limits.per_address.hit("198.51.100.1")
        limits.per_parcel.hit(f"PF{i:012d}")

    ways: dict[str, Callable[[int], object]] = {
        "one call a limit": per_limit,
        "one trip": lambda i: limits.count_lookup("198.51.100.1", f"PF{i:012d}"),
        "bare PING (limit)": lambda i: bare.ping(),
    }
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            figures[name].append(timed(args.lookups, way))
    print(f"{args.lookups:,} lookups a round, {args.rounds} rounds, median (all rounds):")
    for name, rounds in figures.items():
        wall = statistics.median(w for w, _ in rounds)
        cpu = statistics.median(c for _, c in rounds)
        print(f"  {name:18}: CPU {cpu:6.1f} µs, wall {wall:6.1f} µs a lookup  "
              f"(CPU {', '.join(f'{c:.0f}' for _, c in rounds)})")
    ping = statistics.median(c for _, c in figures["bare PING (limit)"])
    trip = statistics.median(c for _, c in figures["one trip"])
    before = statistics.median(c for _, c in figures["one call a limit"])
    write(args.json, [Figure(
        "rate_limit_redis", "public lookup's rate-limit counting on Redis, CPU a lookup", trip,
        "µs", "a bare PING on the same client", ping, "µs", lower_is_better=True,
        extra={"one_call_a_limit_us": round(before, 1)})])


if __name__ == "__main__":
    main()
