"""/console/stats: the last 14 days as charts (on-time rate, exceptions by code, SLA hit
rates, complaints filed) and one day's per-facility table, from the daily statistics read
model's own report (`parcelflow stats --day D` prints the same figures); and the service
KPIs of a day, week or month for the centre, each team and each agent, with CSAT and the
SLA hit rate per day as charts, from the same service as `parcelflow report`
(`application/reports.py`).

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
from parcelflow.application.reports import Period, Reports, as_rows
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


def _kpis(request: Request, period: Period, day: str | None) -> dict[str, Any]:
    """The service KPIs of the period containing `day` (default today), and the
    centre's CSAT and SLA hit rate on each of its days so far."""
    service = context(request).service
    today = date.fromisoformat(today_in(service.network, service.clock()))
    chosen = date.fromisoformat(day) if day else today
    reports = Reports(service, read_model(request, "exceptions"), read_model(request, "cases"),
                      read_model(request, "tracking"))
    report = reports.report(period, chosen)
    series = reports.daily(period, chosen, upto=max(today, chosen) if period != Period.DAY
                           else None)
    return {
        "kpi": report, "kpi_rows": as_rows(report), "kpi_period": str(period),
        "kpi_day": chosen.isoformat(), "periods": [str(p) for p in Period],
        "csat_days": [Bar(d.isoformat()[5:], f["csat"], _percent(f["csat"])) for d, f in series],
        "sla_days": [Bar(d.isoformat()[5:], f["sla_hit_rate"], _percent(f["sla_hit_rate"]))
                     for d, f in series],
    }


def _date(name: str, value: str | None) -> None:
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise Refused(422, f"{name}: not a date (YYYY-MM-DD)") from None


@router.get("/stats")
async def stats_page(request: Request, day: str | None = None, period: Period = Period.WEEK,
                     on: str | None = None, staff: Staff = Depends(signed_in)) -> Response:
    staff.require(*READERS)
    _date("day", day)
    _date("on", on)
    figures = await run_in_threadpool(_figures, request, day)
    kpis = await run_in_threadpool(_kpis, request, period, on)
    return render(request, "console/stats.html", staff=staff, **figures, **kpis)
