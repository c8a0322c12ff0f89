"""`parcelflow learn-eta`: learn the transit-time model from the store's own history,
once or every so often (a periodic worker)."""

from __future__ import annotations

import re
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parcelflow.entrypoints.cli_support import JsonFlag, err, fail, out, print_json, runners
from parcelflow.entrypoints.running import until_signalled
from parcelflow.settings import get_settings

app = typer.Typer()

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(value: str) -> float:
    """`90s`, `30m`, `6h`, `1d` (or plain seconds)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", value.strip())
    if not match or float(match[1]) <= 0:
        fail("--every: a duration such as 30m, 6h or 1d", 2)
    return float(match[1]) * _UNITS[match[2] or "s"]


@app.command("learn-eta")
def learn_eta(
    days: Annotated[int, typer.Option("--days", min=1, max=3660,
                                      help="Learn from the deliveries of the last N days.")] = 30,
    every: Annotated[Optional[str], typer.Option(
        "--every", help="Learn again every DURATION (30m, 6h, 1d) until interrupted "
        "(default: once).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Learn predicted delivery dates from the delivered parcels (a new model version).

    Transit-time percentiles per lane, service level and pickup weekday, read from the
    tracking view; the tracking view predicts with the new version from then on."""
    from parcelflow.adapters.transit_models import TransitModelStore
    from parcelflow.application.delivery_dates import LearnEta
    from parcelflow.bootstrap import build_service

    interval = _seconds(every) if every is not None else None
    svc = build_service()
    store = TransitModelStore(svc.factory.datastore)  # type: ignore[attr-defined]
    [tracking] = runners(svc, ["tracking"])

    def once() -> None:
        tracking.run()  # the deliveries up to the log's head
        view = tracking.projection.view
        with Progress(TextColumn("learning from deliveries"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True,
                      disable=as_json or not err.is_terminal) as progress:
            task = progress.add_task("", total=None)
            learned = LearnEta(svc, view, store).run(
                days, progress=lambda done, total: progress.update(task, completed=done,
                                                                   total=total))
        v = learned.version
        if as_json:
            print_json({**v.to_json(), "rows": learned.rows,
                        "seconds": round(learned.seconds, 3)})
            return
        span = f"{v.history_from} to {v.history_to}" if v.history_from else "no deliveries"
        out.print(f"eta model version {v.version}: {v.trips} trips ({span}), {v.keys} keys, "
                  f"learned at {v.learned_at} in {learned.seconds:.1f} s", highlight=False)

    try:
        if interval is None:
            once()
            return
        stop = until_signalled(get_settings(), "learn-eta")
        err.print(f"learning every {every} (Ctrl-C stops)")
        while not stop.is_set():
            try:
                once()
            except Exception as e:  # logged; the next round tries again
                err.print(f"learn-eta failed: {type(e).__name__}: {e}")
            stop.wait(interval)
    finally:
        tracking.close()
        svc.close()
