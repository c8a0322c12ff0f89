"""/healthz, /readyz and /metrics: what orchestrators and Prometheus ask."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from parcelflow import metrics
from parcelflow.adapters.positions import RELAY
from parcelflow.api.context import ApiContext, context
from parcelflow.api.http import json_response
from parcelflow.api.schemas import Health, Readiness
from parcelflow.application.sharding import stores
from parcelflow.domain.vocabulary import ExceptionCode

log = structlog.get_logger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive", response_model=Health)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(ctx: ApiContext) -> dict[str, Any]:
    """Database reachable, and each watched read model close enough to the log's head."""
    reasons: list[str] = []
    lags: list[dict[str, Any]] = []
    try:
        for store in stores(ctx.service):  # every shard answers
            store.recorder.max_notification_id()
        database = True
    except Exception as e:  # noqa: BLE001 — any failure means not ready
        log.warning("readyz.database_unreachable", error_type=type(e).__name__)
        return {"status": "not_ready", "database": False, "projections": [],
                "reasons": ["database unreachable"]}
    limit = ctx.settings.api_ready_max_lag.total_seconds()
    for runner in ctx.lag_runners:
        lag = runner.lag()
        metrics.PROJECTION_LAG_EVENTS.labels(lag.name).set(lag.behind)
        metrics.PROJECTION_LAG_SECONDS.labels(lag.name).set(lag.seconds)
        lags.append(lag.to_json())
        if lag.seconds > limit:
            reasons.append(f"{lag.name} is {lag.seconds:.0f} s behind the log (limit {limit:.0f} s)")
    return {"status": "not_ready" if reasons else "ready", "database": database,
            "projections": lags, "reasons": reasons}


@router.get("/readyz", summary="Ready to serve: database reachable, read models caught up",
            response_model=Readiness,
            responses={503: {"model": Readiness, "description": "not ready, with the reasons"}})
def readyz(request: Request) -> Response:
    ctx = context(request)
    state = ctx.recent_readiness.get(lambda: readiness(ctx))
    return json_response(state, status=200 if state["status"] == "ready" else 503)


def _open_exceptions(ctx: ApiContext) -> None:
    found = ctx.exceptions.open_by_code()
    for code in ExceptionCode:  # every code, so a code that went to zero shows 0
        metrics.EXCEPTIONS_OPEN.labels(str(code)).set(found.get(str(code), 0))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def prometheus(request: Request) -> Response:
    """Counters of this process, and gauges read from the database when scraped:
    read-model lag, relay lag (with Kafka) and open exceptions by code. The workers'
    own counters (notifications sent and failed, dead letters, ...) are on each
    worker's port (`PARCELFLOW_METRICS_PORT`)."""
    ctx = context(request)
    ctx.recent_gauges.get(lambda: _read_gauges(ctx))
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _read_gauges(ctx: ApiContext) -> None:
    try:
        ctx.recent_readiness.get(lambda: readiness(ctx))
        _open_exceptions(ctx)
        if ctx.positions is not None:
            metrics.RELAY_LAG_EVENTS.set(sum(  # over every shard's log and relay
                max(0, (store.recorder.max_notification_id() or 0) - saved.get(RELAY))
                for store, saved in zip(stores(ctx.service), ctx.positions, strict=True)))
    except Exception as e:  # noqa: BLE001 — still serve the counters
        log.warning("metrics.gauges_failed", error_type=type(e).__name__)
