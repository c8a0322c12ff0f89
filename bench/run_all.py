"""Every benchmark in sequence, one table: bench/results.md and bench/results.json.

    .venv/bin/python bench/run_all.py [--repeat N] [--only ingest,api,...] [--readme]
                                      [--profile DIR]

Runs each script below with `--json`, one after the other (they share the machine's
two cores with PostgreSQL and the broker; never two at once), and collects their
figures. Every row carries the limit measured in the same run and the ratio of the
two (the fraction of the limit reached: figure / limit for a rate, limit / figure
for a latency), which is what to compare between machines and runs: the bare figures
on these machines move by up to 2x with what else is running.

With --repeat N every script runs N times; the table shows each row's median with
the spread (min-max) of the figure and of the ratio. --readme rewrites the README's
table between the `bench-results` markers. --profile DIR passes --profile to every
script (py-spy flame graphs and attributions; slower, so figures of a profiled run
are not written to the table).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from figures import number  # noqa: E402

# (name, script, arguments): the table, in its order.
SUITE = [
    ("ingest", "ingest.py", []),
    ("cli", "cli_ingest.py", []),
    ("api", "api.py", ["--rates", "500,1000"]),
    ("api2", "api.py", ["--parts", "scans", "--workers", "2"]),
    ("projections", "projections.py", ["--rates", "2000,5000"]),
    ("pipeline", "pipeline.py", ["--rate", "1000"]),
    ("detect", "detect.py", []),
    ("instructions", "ingest.py", ["--instructions"]),
    ("rebuild_instructions", "projections.py", ["--parts", "instructions", "--parcels", "1000"]),
    ("follow_instructions", "projections.py", ["--parts", "follow", "--parcels", "200"]),
    ("notify_instructions", "notify_instructions.py", []),
    ("memory", "memory.py", []),
    ("rate_limits", "rate_limits.py", []),
]

# The rows of the table, in its order (others follow).
ORDER = ["ingest_warm", "ingest_cold", "cli_ingest", "cli_ingest_1_process", "api_post_scans",
         "api_post_scans_2_workers", "lookup_open_500",
         "lookup_open_1000", "lookup_closed", "rebuild_tracking", "projection_lag_2000_warm",
         "projection_lag_2000", "projection_lag_5000_warm", "projection_lag_5000", "relay",
         "scan_to_email", "detect_pass_1", "detect_pass_2",
         "ingest_instructions", "rebuild_tracking_instructions",
         "follow_tracking_instructions"]


def run_script(script: str, extra: list[str], profile: str | None) -> list[dict]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    command = [sys.executable, str(BENCH / script), *extra, "--json", path]
    if profile:
        command += ["--profile", profile]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT)
    took = time.perf_counter() - started
    if done.returncode:
        print(f"!! {script} failed with exit status {done.returncode} after {took:.0f} s",
              flush=True)
        return []
    rows = json.loads(Path(path).read_text())
    Path(path).unlink()
    print(f"   ({took:.0f} s)", flush=True)
    return rows


def summarise(runs: dict[str, list[dict]]) -> list[dict]:
    rows = []
    keys = [k for k in ORDER if k in runs] + sorted(k for k in runs if k not in ORDER)
    for key in keys:
        seen = runs[key]
        values = [r["value"] for r in seen]
        ratios = [r["ratio"] for r in seen if r["ratio"] is not None]
        last = seen[-1]
        row = {k: last[k] for k in ("key", "path", "unit", "limit_name", "limit_unit",
                                    "lower_is_better", "target")}
        row.update(value=statistics.median(values), values=values,
                   limit_value=statistics.median([r["limit_value"] for r in seen
                                                  if r["limit_value"] is not None] or [0]) or None,
                   ratio=statistics.median(ratios) if ratios else None, ratios=ratios,
                   extra=last.get("extra", {}))
        rows.append(row)
    return rows


_number = number  # bench/figures.py: one way of showing a figure, here and in each script


def markdown(rows: list[dict], repeats: int, when: str) -> str:
    lines = [
        f"Measured by `bench/run_all.py` on {when} ({platform.node()}, {repeats} run"
        f"{'s' if repeats > 1 else ''}{', median and spread min–max' if repeats > 1 else ''}). "
        "Ratio: the fraction of the limit reached (figure / limit for a rate, limit / "
        "figure for a latency), the limit measured in the same run.",
        "",
        "| path | measured | limit (same run) | ratio | target |" + (" spread |" if repeats > 1 else ""),
        "|---|---|---|---|---|" + ("---|" if repeats > 1 else ""),
    ]
    for r in rows:
        measured = f"{_number(r['value'], r['unit'])} {r['unit']}"
        limit = (f"{r['limit_name']}: {_number(r['limit_value'], r['limit_unit'] or '')} "
                 f"{r['limit_unit']}" if r["limit_value"] else "—")
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        line = f"| {r['path']} | {measured} | {limit} | {ratio} | {r['target'] or ''} |"
        if repeats > 1:
            spread = f"{_number(min(r['values']), r['unit'])}–{_number(max(r['values']), r['unit'])}"
            if r["ratios"]:
                spread += f" (ratio {min(r['ratios']):.2f}–{max(r['ratios']):.2f})"
            line += f" {spread} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def update_readme(table: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench-results -->", "<!-- /bench-results -->"
    if start not in text:
        raise SystemExit(f"README.md has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", help="comma-separated: " + ", ".join(n for n, _, _ in SUITE))
    parser.add_argument("--readme", action="store_true", help="rewrite the README's table")
    parser.add_argument("--profile", metavar="DIR")
    parser.add_argument("--out", default=str(BENCH), help="where results.md/.json go")
    parser.add_argument("--add", action="store_true",
                        help="keep the rows of the existing results.json this run does not "
                             "measure (re-run one script after a failure)")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else {n for n, _, _ in SUITE}
    unknown = chosen - {n for n, _, _ in SUITE}
    if unknown:
        raise SystemExit(f"unknown: {', '.join(sorted(unknown))}")

    runs: dict[str, list[dict]] = {}
    failed = []
    for repeat in range(args.repeat):
        for name, script, extra in SUITE:
            if name not in chosen:
                continue
            print(f"\n=== {name} (run {repeat + 1} of {args.repeat})", flush=True)
            rows = run_script(script, extra, args.profile)
            if not rows:
                failed.append(name)
            for row in rows:
                runs.setdefault(row["key"], []).append(row)
    if args.profile:
        print(f"\nprofiles written under {args.profile}; no table from a profiled run")
        return
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = summarise(runs)
    if args.add and (Path(args.out) / "results.json").exists():
        kept = [r for r in json.loads((Path(args.out) / "results.json").read_text())["rows"]
                if r["key"] not in runs]
        rows = sorted(kept + rows, key=lambda r: (ORDER.index(r["key"]) if r["key"] in ORDER
                                                  else len(ORDER), r["key"]))
    table = markdown(rows, args.repeat, when)
    out = Path(args.out)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(json.dumps(
        {"measured": when, "host": platform.node(), "repeats": args.repeat,
         "failed": failed, "rows": rows}, indent=1, ensure_ascii=False))
    print("\n" + table)
    if args.readme:
        update_readme(table)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
