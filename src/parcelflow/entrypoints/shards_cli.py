"""`parcelflow shards`: the shard map, and moving a bucket to another server while
ingest goes on (`application/bucket_move.py`)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parcelflow.entrypoints.cli_support import JsonFlag, err, fail, out, print_json, service

app = typer.Typer(help="The shard map; moving a bucket of parcels to another server.",
                  invoke_without_command=True)


def _moves() -> Any:
    from parcelflow.application.bucket_move import MoveError
    from parcelflow.bootstrap import build_bucket_moves

    try:
        return build_bucket_moves(service())
    except MoveError as e:
        fail(str(e), 2)


@app.callback()
def _default(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Without a command: the map and any move in progress (as `shards status`)."""
    if ctx.invoked_subcommand is None:
        status(as_json)


def _runs(buckets: list[int]) -> str:
    """Buckets as runs: 0-85, 90, 92-95."""
    runs: list[str] = []
    for b in buckets:
        if runs and int(runs[-1].split("-")[-1]) == b - 1:
            runs[-1] = f"{runs[-1].split('-')[0]}-{b}"
        else:
            runs.append(str(b))
    return ", ".join(runs) or "none"


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Which server holds which buckets, and every move in progress or done."""
    shown = _moves().status()
    if as_json:
        print_json(shown)
        return
    table = Table("shard", "buckets", "held", title="shard map")
    for shard in shown["shards"]:
        table.add_row(shard["shard"], str(len(shard["buckets"])), _runs(shard["buckets"]))
    out.print(table)
    moving = [m for m in shown["moves"] if m["phase"] not in ("done", "aborted")]
    for m in moving:
        out.print(f"bucket {m['bucket']}: moving from {m['source']} to {m['target']}, "
                  f"{m['phase']} ({m['copied_events']} events copied; since {m['started_at']}); "
                  "run `parcelflow shards move` again to finish it, or --abort",
                  highlight=False, soft_wrap=True)
    if not moving:
        out.print("no move in progress")


@app.command()
def move(
    bucket: Annotated[int, typer.Argument(help="The bucket (0-255; `parcelflow shards` "
                                          "lists who holds which).")],
    to: Annotated[Optional[str], typer.Option(
        "--to", help="The database URL of the shard to move it to (one of PARCELFLOW_SHARDS).")
    ] = None,
    abort: Annotated[bool, typer.Option(
        "--abort", help="Give up a move that has not switched yet: the bucket stays where "
        "it was, the copies are deleted.")] = False,
    chunk: Annotated[int, typer.Option(
        "--chunk", min=1, help="Events copied per transaction.")] = 5000,
    as_json: JsonFlag = False,
) -> None:
    """Copy the bucket's parcels (events, data keys) to another shard while ingest goes
    on, switch the map, verify the copy and drop the old one. Run it again after a crash
    to finish the move."""
    from parcelflow.application.bucket_move import MoveError

    if bool(to) == abort:
        fail("give --to URL, or --abort", 2)
    moves = _moves()
    moves.CHUNK, moves.FENCE_AT = chunk, min(moves.FENCE_AT, chunk)
    try:
        if abort:
            report = moves.abort(bucket)
        else:
            assert to is not None
            progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                                TimeElapsedColumn(), console=err, transient=True,
                                disable=not err.is_terminal)
            tasks: dict[str, Any] = {}

            def shown(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = progress.add_task(what, total=total, rate="")
                task = progress.tasks[tasks[what]]
                speed = task.speed or 0
                progress.update(tasks[what], completed=done, total=total,
                                rate=f"{speed:,.0f} events/s" if what == "copying" else "")

            with progress:
                report = moves.move(bucket, to, shown)
    except MoveError as e:
        fail(str(e))
    if as_json:
        print_json(report.to_json())
        return
    for note in report.notes:
        out.print(note, highlight=False)
    if report.phase == "aborted":
        out.print(f"bucket {bucket}: move aborted, it stays on {report.source}; "
                  f"{report.dropped_events} copied events deleted from {report.target}",
                  highlight=False, soft_wrap=True)
        return
    if report.notes:
        return
    pause = ("" if report.pause_seconds is None
             else f"; writes to it paused {report.pause_seconds * 1000:.1f} ms")
    out.print(f"bucket {bucket}: {report.copied_events} events copied to {report.target} in "
              f"{report.copy_seconds:.2f} s ({report.rate:,.0f} events/s){pause}; "
              f"{report.parcels} parcels verified; {report.dropped_events} events dropped "
              f"from {report.source}", highlight=False, soft_wrap=True)
