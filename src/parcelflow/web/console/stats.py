"""/console/stats: the last 14 days as charts (on-time rate, exceptions by code, SLA hit
rates, complaints filed) and one day's per-facility table, from the daily statistics read
model's own report (`parcelflow stats --day D` prints the same figures).

The charts are inline SVG drawn on the server: no chart library, no script, and every
chart has its figures beside it as text for those who cannot see it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from parcelflow.api.context import context
from parcelflow.api.routers.exceptions import READERS
from parcelflow.projections.daily_stats import today_in
from parcelflow.web.console.pages import render
from parcelflow.web.console.reads import read_model
from parcelflow.web.console.session import Refused, Staff, signed_in

router = APIRouter(prefix="/console", include_in_schema=False)
DAYS = 14


@dataclass(frozen=True)
class Bar:
    label: str  # the day ("11-22") or the code
    value: float | None  # None: nothing to measure that day
    text: str  # the value as people read it ("93%", "12")


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _figures(request: Request, day: str | None) -> dict[str, Any]:
    service = context(request).service
    today = date.fromisoformat(today_in(service.network, service.clock()))
    days = [(today - timedelta(days=n)).isoformat() for n in range(DAYS - 1, -1, -1)]
    stats = read_model(request, "stats")
    reports = {d: stats.report(d) for d in days}
    zone = service.network.zone
    filed = Counter(
        (r["filed_at"] if isinstance(r["filed_at"], datetime)
         else datetime.fromisoformat(r["filed_at"])).astimezone(zone).date().isoformat()
        for r in read_model(request, "cases").complaints(limit=100_000))
    by_code: Counter[str] = Counter()
    for report in reports.values():
        by_code.update(report["network"]["exceptions"])

    def series(key: str) -> list[Bar]:
        return [Bar(d[5:], reports[d]["network"][key], _percent(reports[d]["network"][key]))
                for d in days]

    chosen = day or days[-1]
    if chosen not in reports:
        reports[chosen] = stats.report(chosen)
    return {
        "days": days, "day": chosen, "report": reports[chosen],
        "on_time": series("on_time_rate"),
        "first_response": series("first_response_sla"),
        "resolution": series("resolution_sla"),
        "codes": [Bar(code, n, str(n)) for code, n in by_code.most_common()],
        "complaints": [Bar(d[5:], filed.get(d, 0), str(filed.get(d, 0))) for d in days],
        "percent": _percent,
    }


@router.get("/stats")
async def stats_page(request: Request, day: str | None = None,
                     staff: Staff = Depends(signed_in)) -> Response:
    staff.require(*READERS)
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise Refused(422, "day: not a date (YYYY-MM-DD)") from None
    figures = await run_in_threadpool(_figures, request, day)
    return render(request, "console/stats.html", staff=staff, **figures)
