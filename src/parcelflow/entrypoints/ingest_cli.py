"""`parcelflow register` and `parcelflow ingest`: manifests and scans from JSON Lines files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from parcelflow.application.results import BatchReport
from parcelflow.entrypoints.cli_support import JsonFlag, err, fail, out, print_json, service
from parcelflow.entrypoints.jsonlines import Line, batches, open_input, read_lines
from parcelflow.settings import get_settings

app = typer.Typer()


def _load_file(
    path: str, key_name: str, send: Callable[[list[Any]], BatchReport]
) -> dict[str, Any]:
    """Feed a JSON Lines file to a batch command; one summary for the whole file."""
    size = get_settings().max_batch
    summary: dict[str, Any] = {"accepted": 0, "duplicates": 0, "rejected": []}
    try:
        stream = open_input(path)
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}", 2)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
    with stream, progress:
        task = progress.add_task("reading", total=None)
        done = 0
        for batch in batches(read_lines(stream), size):
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
            progress.update(task, description=f"{done} lines, {summary['accepted']} accepted")
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


@app.command()
def ingest(file: FileArg, as_json: JsonFlag = False, strict: StrictFlag = False) -> None:
    """Record scans (scan wire format v1, one per line). Replaying a file changes nothing."""
    svc = service()
    summary = _load_file(file, "scan_id", svc.ingest)
    _print_summary(summary, "scans", as_json, strict)
