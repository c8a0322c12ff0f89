"""/v1/stats: the daily service statistics, as `parcelflow stats --json` prints them
(one read model, `projections/daily_stats.py`, for both)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from parcelflow.adapters.credentials import Credential
from parcelflow.api.auth import staff
from parcelflow.api.context import context
from parcelflow.api.problems import problem_responses
from parcelflow.api.routers.exceptions import READERS
from parcelflow.api.schemas import StatsReport
from parcelflow.application.delivery_dates import prediction_accuracy
from parcelflow.projections.daily_stats import today_in

router = APIRouter(tags=["statistics"])


@router.get("/v1/stats", summary="Daily service statistics per facility",
            response_model=StatsReport, responses=problem_responses(401, 403, 422))
def stats(
    request: Request,
    day: Annotated[date | None, Query(description="the service day (default: today in "
                                      "the network's time zone)")] = None,
    _: Credential = Depends(staff(*READERS)),
) -> dict[str, Any]:
    """Scans, parcels, deliveries and on-time rate, exceptions by code, hub scan
    compliance, SLA hit rates, and scans at facilities not in the network registry
    (kept, counted as a data-quality problem). Read from the statistics view; and the
    accuracy of the predicted delivery dates (made at pickup) over every delivery so far,
    overall and per lane, from the tracking view."""
    ctx = context(request)
    when = day.isoformat() if day else today_in(ctx.service.network, ctx.service.clock())
    return {**ctx.stats.report(when), "eta_accuracy": prediction_accuracy(ctx.tracking.view)}
