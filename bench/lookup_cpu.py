"""CPU time per public lookup in the API's own code, without sockets: the app called
in this process as uvicorn calls it (ASGI), on uvloop, against PostgreSQL.

    .venv/bin/python bench/lookup_cpu.py [--parcels 3000] [--requests 5000] [--clients 8]

Seeds a throwaway database and projects its tracking view as bench/api.py does, then
runs the app's lifespan here and sends `--requests` lookups without proof and as many
with a right `phone_last4` from `--clients` concurrent tasks, five rounds each, timing
this process's CPU (`time.process_time`: every thread, so the threadpool's work counts).
What it leaves out is what uvicorn and the kernel spend per request (HTTP parsing, the
socket calls): `bench/api.py --parts cpu` measures the whole server process. This one
varies far less from run to run on a shared machine (no client process, no loopback
wake-ups), so it is the figure to compare commits by.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import CST, drop_scratch, scratch_database, seed  # noqa: E402  (bench/api.py)
from parcelflow.api.app import create_app  # noqa: E402
from parcelflow.logs import configure_logging  # noqa: E402
from parcelflow.settings import Settings  # noqa: E402
from tests.support.builders import tracking  # noqa: E402


async def call(app, path: str, query: bytes) -> int:  # type: ignore[no-untyped-def]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query, "root_path": "", "headers": [(b"host", b"bench")],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}
    status = 0

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):  # type: ignore[no-untyped-def]
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def rounds(app, requests: list[tuple[str, bytes]], clients: int) -> list[float]:  # type: ignore[no-untyped-def]
    async def client(k: int) -> int:
        bad = 0
        for path, query in requests[k::clients]:
            bad += await call(app, path, query) != 200
        return bad

    found = []
    for _ in range(5):
        before = time.process_time()
        bad = sum(await asyncio.gather(*(client(k) for k in range(clients))))
        found.append((time.process_time() - before) / len(requests) * 1000)
        if bad:
            raise SystemExit(f"{bad} lookups were not answered 200")
    return found


async def measure(url: str, parcels: int, count: int, clients: int) -> None:
    settings = Settings(database_url=url, _env_file=None, development=True,  # type: ignore[call-arg]
                        api_lookup_limit_per_address="10000000/minute",
                        api_lookup_limit_per_parcel="10000000/minute")
    app = create_app(settings)
    rng = random.Random(11)
    numbers = [tracking(rng.randint(1, parcels)) for _ in range(count)]
    async with app.router.lifespan_context(app):
        configure_logging("json", "INFO", stream=open("/dev/null", "w"))  # noqa: SIM115
        await rounds(app, [(f"/v1/parcels/{n}", b"") for n in numbers[:2000]], clients)  # warm
        gc.collect()
        gc.freeze()
        for kind, query in (("plain", b""), ("phone", b"phone_last4=4321")):
            ms = await rounds(app, [(f"/v1/parcels/{n}", query) for n in numbers], clients)
            print(f"lookup ({kind}) in process, CPU per request, {count} requests, {clients} "
                  f"tasks: lowest {min(ms):.3f} ms, median {sorted(ms)[2]:.3f} ms "
                  f"(rounds: {', '.join(f'{m:.3f}' for m in ms)})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--parcels", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    name, url, log = scratch_database(args.admin_url)
    try:
        seed(url, args.parcels, (datetime.now(CST) - timedelta(days=2)).replace(microsecond=0))
        uvloop.run(measure(url, args.parcels, args.requests, args.clients))
    finally:
        drop_scratch(args.admin_url, name, log)


if __name__ == "__main__":
    main()
