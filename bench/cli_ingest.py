"""`parcelflow ingest FILE` as a user runs it: a fresh process reading a JSON Lines file.

    .venv/bin/python bench/cli_ingest.py [--scans 30000] [--json FILE] [--profile DIR]

Creates a throwaway PostgreSQL database, writes a simulated network day (the same
generator as `parcelflow simulate`: retried duplicates, late uploads, misroutes, ...)
cut to exactly --scans scan lines, registers its manifests with `parcelflow register`
(not timed), then times `parcelflow ingest scans.jsonl` from the moment it is started
to its exit: interpreter start-up, imports, settings, the store's set-up, reading and
parsing the file, and every batch (PARCELFLOW_MAX_BATCH, 1000). Then the same with
`--workers 1` (one process) on a second database, for comparison: the default on
PostgreSQL with two CPUs is two processes (src/parcelflow/entrypoints/ingest_processes.py).

Printed beside it, measured in the same run:
- the start-up floor: `parcelflow ingest` of an empty file (everything but the scans);
- the limit: a raw COPY of the rows that ingest stored, in transactions of 1000
  (`physical_limits.copy_rows`).
With --profile, the timed ingest runs under py-spy from its first instruction.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parcelflow.application.service import utcnow  # noqa: E402
from parcelflow.bootstrap import load_network  # noqa: E402
from parcelflow.simulation import simulate  # noqa: E402

from figures import Figure, write  # noqa: E402
from physical_limits import copy_rows, head, stored_rows  # noqa: E402
from profiling import enable, run_profiled  # noqa: E402


def write_lines(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--scans", type=int, default=30_000)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--profile", metavar="DIR")
    args = parser.parse_args()
    enable(args.profile)

    names = [f"parcelflow_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    urls = [args.admin_url.rsplit("/", 1)[0] + "/" + name for name in names]
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    parcelflow = [str(Path(sys.executable).with_name("parcelflow"))]
    try:
        # ~6.5 scan lines a parcel (journeys still under way): simulate enough parcels and
        # keep the first --scans lines, in the order the network sent them.
        sim = simulate(load_network(), parcels=args.scans // 5, now=utcnow(), seed=3)
        if len(sim.scans) < args.scans:
            raise SystemExit(f"the simulation gave only {len(sim.scans)} scans")
        write_lines(work / "manifests.jsonl", sim.manifests)
        write_lines(work / "scans.jsonl", sim.scans[:args.scans])
        (work / "empty.jsonl").write_text("")
        figures = []
        # As a user runs it (the default: 2 processes on PostgreSQL with 2 CPUs), then
        # one process (`--workers 1`) on a database of its own, for comparison.
        for url, workers in ((urls[0], []), (urls[1], ["--workers", "1"])):
            env = {**os.environ, "PARCELFLOW_DATABASE_URL": url, "PARCELFLOW_LOG_LEVEL": "WARNING"}
            quiet = {"env": env, "stdout": subprocess.DEVNULL, "cwd": work}
            subprocess.run([*parcelflow, "register", str(work / "manifests.jsonl")], check=True,
                           **quiet)
            floor = []
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run([*parcelflow, "ingest", str(work / "empty.jsonl")], check=True,
                               **quiet)
                floor.append(time.perf_counter() - started)
            startup = min(floor)
            before = head(url)
            wall = run_profiled("cli-ingest" + ("-1-process" if workers else ""),
                                [*parcelflow, "ingest", str(work / "scans.jsonl"), *workers],
                                items=args.scans, unit="scan", **quiet)
            rows = stored_rows(url, before)
            copy = copy_rows(url, rows, 1000)
            rate = args.scans / wall
            how = " --workers 1" if workers else " (default processes)"
            print(f"parcelflow ingest{how}: {args.scans:,} scan lines -> {len(rows):,} events in "
                  f"{wall:.2f} s = {rate:,.0f} scans/s; start-up floor (empty file) "
                  f"{startup:.2f} s; without it {args.scans / max(wall - startup, 1e-9):,.0f} "
                  "scans/s")
            figures.append(Figure(
                "cli_ingest" + ("_1_process" if workers else ""),
                f"`parcelflow ingest FILE`, {args.scans:,} scans, "
                + ("one process (`--workers 1`)" if workers else "as a user runs it"),
                rate, "scans/s", "raw COPY of the same rows, 1000 a transaction", copy, "rows/s",
                target="" if workers else ">= 15,000 scans/s",
                extra={"wall_seconds": round(wall, 2), "startup_seconds": round(startup, 2),
                       "events": len(rows), "scans_per_second_after_startup":
                           round(args.scans / max(wall - startup, 1e-9))}))
        write(args.json, figures)
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
