"""`parcelflow detect`: the detectors, once or every N seconds."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from parcelflow.entrypoints.cli_support import JsonFlag, err, out, print_json
from parcelflow.entrypoints.running import until_signalled
from parcelflow.settings import get_settings

app = typer.Typer()


@app.command()
def detect(
    every: Annotated[Optional[float], typer.Option(
        "--every", min=1, help="Run a pass every SECONDS until interrupted (default: once).")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Detect stalled, delayed, lost and uncollected parcels and missed SLA clocks."""
    from parcelflow.application.detectors import Detectors, PassReport
    from parcelflow.bootstrap import build_service
    from parcelflow.projections.watchlist import Watchlist

    svc = build_service(cache_size=0)  # loads each flagged parcel fresh; nothing to cache
    watchlist = Watchlist(svc)
    detectors = Detectors(svc, watchlist)

    def show(report: PassReport) -> None:
        data = report.to_json()
        if as_json:
            print_json(data)
            return
        raised = ", ".join(f"{k} {v}" for k, v in data["raised"].items()) or "nothing new"
        breaches = ", ".join(f"{k} {v}" for k, v in data["sla_breaches"].items()) or "none"
        out.print(f"{data['at']}: {data['candidates']} candidates, raised {raised}; "
                  f"{data['eta_revised']} ETAs revised; SLA breaches {breaches}; "
                  f"{data['seconds']:.2f} s", highlight=False)

    try:
        if every is None:
            show(detectors.run_pass())
            return
        stop = until_signalled(get_settings(), "detect")
        err.print(f"detecting every {every:g} s (Ctrl-C stops)")
        detectors.run_every(every, stop, on_pass=show)
    finally:
        watchlist.close()
        svc.close()
