"""`parcelflow register` and `parcelflow ingest`: manifests and scans from JSON Lines files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Annotated, Any, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from parcelflow.application.results import BatchReport
from parcelflow.entrypoints import ingest_processes
from parcelflow.entrypoints.cli_support import JsonFlag, err, fail, out, print_json, service
from parcelflow.entrypoints.jsonlines import Line, batches, open_input, read_lines
from parcelflow.settings import get_settings

app = typer.Typer()

Shown = Callable[[int, int], None]  # (lines read, accepted): for the progress line


@contextmanager
def _progress() -> Iterator[Shown]:
    """A spinner with the lines read so far, on a terminal only (and gone at the end)."""
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
    with progress:
        task = progress.add_task("reading", total=None)
        yield lambda done, accepted: progress.update(
            task, description=f"{done} lines, {accepted} accepted")


def _load_file(
    path: str, key_name: str, send: Callable[[list[Any]], BatchReport],
    keep: Callable[[Line], bool] | None = None, shown: Shown | None = None,
) -> dict[str, Any]:
    """Feed a JSON Lines file to a batch command; one summary for the whole file.
    `keep`: only these lines (one process's share of the file); `shown`: progress."""
    size = get_settings().max_batch
    summary: dict[str, Any] = {"accepted": 0, "duplicates": 0, "rejected": []}
    try:
        stream = open_input(path)
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}", 2)
    with stream, (_progress() if shown is None else nullcontext(shown)) as show:
        done = 0
        lines = read_lines(stream)
        for batch in batches(lines if keep is None else filter(keep, lines), size):
            items: list[Line] = [line for line in batch if line.error is None]
            for line in batch:
                if line.error is not None:
                    summary["rejected"].append(
                        {"line": line.number, key_name: None, "reason": line.error})
            report = send([line.item for line in items])
            summary["accepted"] += report.accepted
            summary["duplicates"] += report.duplicates
            for result in report.rejected:
                summary["rejected"].append({
                    "line": items[result.index].number, key_name: result.key,
                    "reason": result.reason,
                })
            done += len(batch)
            show(done, summary["accepted"])
    summary["rejected"].sort(key=lambda r: r["line"])
    return summary


def _print_summary(summary: dict[str, Any], noun: str, as_json: bool, strict: bool) -> None:
    if as_json:
        print_json(summary)
    else:
        rejected = summary["rejected"]
        out.print(f"{summary['accepted']} {noun} accepted, {summary['duplicates']} duplicates, "
                  f"{len(rejected)} rejected")
        for r in rejected[:20]:
            out.print(f"  line {r['line']}: {r['reason']}", highlight=False)
        if len(rejected) > 20:
            out.print(f"  ... and {len(rejected) - 20} more (use --json for all)")
    if strict and summary["rejected"]:
        raise typer.Exit(1)


StrictFlag = Annotated[
    bool, typer.Option("--strict", help="Exit with status 1 when any item was rejected.")
]
FileArg = Annotated[str, typer.Argument(help="JSON Lines file, or - for standard input.")]


@app.command()
def register(file: FileArg, as_json: JsonFlag = False, strict: StrictFlag = False) -> None:
    """Register parcels from manifests (manifest wire format v1, one per line)."""
    svc = service()
    summary = _load_file(file, "tracking_no", svc.register)
    _print_summary(summary, "manifests", as_json, strict)


WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", min=1, max=16,
    help="Processes writing side by side, each parcel's lines in one of them, in file order "
         "(default: 2 on PostgreSQL with 2 or more CPUs, else 1; a SQLite file or standard "
         "input: 1).")]


@app.command()
def ingest(file: FileArg, as_json: JsonFlag = False, strict: StrictFlag = False,
           workers: WorkersOpt = None) -> None:
    """Record scans (scan wire format v1, one per line). Replaying a file changes nothing."""
    count = ingest_processes.how_many(get_settings(), file, workers)
    if count == 1:
        svc = service()
        summary = _load_file(file, "scan_id", svc.ingest)
    else:
        summary = ingest_processes.run(count, _share, file, _progress)
    _print_summary(summary, "scans", as_json, strict)


def _share(file: str, mine: Callable[[Line], bool], shown: Shown) -> dict[str, Any]:
    """One process's part of `parcelflow ingest` (ingest_processes.run forks it)."""
    svc = service()
    try:
        return _load_file(file, "scan_id", svc.ingest, keep=mine, shown=shown)
    finally:
        svc.close()
