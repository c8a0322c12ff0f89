"""The HTTP API as a FastAPI app: `create_app()` wires it; `parcelflow serve` runs it.

The API writes through ParcelService (scans, manifests, exception actions) and reads
the read models a `parcelflow project --follow` process keeps up to date; it never runs
projections itself. Writes answer with the log position they reached
(`X-Parcelflow-Position`); a read model shows a write once its position reaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from parcelflow.adapters.credentials import CredentialStore
from parcelflow.adapters.positions import PositionStore
from parcelflow.adapters.request_log import RequestLog
from parcelflow.adapters.sealing import KeyWrap
from parcelflow.api import problems
from parcelflow.api.context import ApiContext, Recent
from parcelflow.api.middleware import OPS_PATHS, BodyLimit, OpsLimit, QueryText, RequestContext
from parcelflow.api.openapi import document_headers, document_tracking_numbers
from parcelflow.api.ratelimit import LookupLimits
from parcelflow.api.routers import (
    audit, exceptions, followups, ops, parcels, scans, stats, surveys,
)
from parcelflow.api.tracking import PhoneProofs, TrackingRows
from parcelflow.application.service import ParcelService
from parcelflow.settings import Settings, get_settings
from parcelflow.web.base import mount_web
from parcelflow.wire.manifests import ManifestV1
from parcelflow.wire.scans import ScanV1

log = structlog.get_logger("parcelflow.api")


def credential_store(service: ParcelService, settings: Settings) -> CredentialStore:
    master = settings.credentials_master_key
    wrap = KeyWrap.from_setting(master.get_secret_value() if master else None)
    return CredentialStore(service.factory.datastore, wrap,  # type: ignore[attr-defined]
                           staff_lifetime=settings.api_staff_token_lifetime)


def build_context(settings: Settings, service: ParcelService) -> ApiContext:
    from parcelflow.application.sharding import stores
    from parcelflow.bootstrap import build_surveys
    from parcelflow.projections.registry import open_view, runner

    datastore = service.factory.datastore  # type: ignore[attr-defined]
    # Only asked how far behind their read models are: never followed, so they hold no
    # listening connection (see LogFollower).
    lag_runners = [runner(service, name) for name in settings.api_ready_projections]
    return ApiContext(
        settings=settings,
        service=service,
        credentials=credential_store(service, settings),
        requests=RequestLog(
            datastore, idempotency_ttl=settings.api_idempotency_ttl.total_seconds(),
            signature_ttl=2 * settings.api_signature_tolerance.total_seconds()),
        limits=LookupLimits(settings.api_lookup_limit_per_address,
                            settings.api_lookup_limit_per_parcel,
                            settings.api_proof_failure_limit,
                            proof_failures_per_address=settings.api_proof_failure_limit_per_address,
                            ops_per_address=settings.api_ops_limit_per_address,
                            storage=settings.rate_limit_storage,
                            prefix=settings.rate_limit_prefix),
        proofs=PhoneProofs(service),
        tracking=TrackingRows(open_view(service, "tracking")),
        exceptions=open_view(service, "exceptions"),
        stats=open_view(service, "stats"),
        cases=open_view(service, "cases"),
        surveys=build_surveys(service, settings),
        lag_runners=lag_runners,
        positions=([PositionStore(store.factory.datastore)  # type: ignore[attr-defined]
                    for store in stores(service)]  # each shard's relay saves its own
                   if settings.kafka_bootstrap_servers else None),
        recent_readiness=Recent(settings.api_ops_cache_seconds),
        recent_gauges=Recent(settings.api_ops_cache_seconds),
    )


def create_app(settings: Settings | None = None, *, service: ParcelService | None = None) -> FastAPI:
    """The app. With `service`, it is used (and left open); else one is built from settings
    (with the ingest cache: every write goes through `ApiContext.write`, one at a time)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from parcelflow.bootstrap import build_service

        own = service is None
        svc = service or build_service(settings)
        app.state.ctx = build_context(settings, svc)
        log.info("api.rate_limits", storage=app.state.ctx.limits.describe())
        try:
            yield
        finally:
            app.state.ctx.tracking.close()
            if own:
                svc.close()

    app = FastAPI(
        title="parcelflow",
        version="1",
        summary="Parcel lifecycle and exception tracking for an express carrier",
        description=(__doc__ or "").split("\n\n", 1)[1],
        lifespan=lifespan,
    )
    problems.install(app)
    for module in (scans, parcels, audit, exceptions, stats, followups, surveys, ops):
        app.include_router(module.router)
    app.router.routes.insert(0, parcels.plain_lookup_route())  # the hottest route, matched first
    mount_web(app, settings)  # the tracking page and the console (parcelflow.web)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes,
                       timeout=settings.api_body_timeout.total_seconds())
    app.add_middleware(OpsLimit, paths=OPS_PATHS)
    app.add_middleware(QueryText)
    app.add_middleware(RequestContext)  # outermost: every line of a request has its id
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The generated document, plus the wire formats the batch routes take (their bodies
    are validated item by item by the service, so FastAPI does not see them), the headers
    clients need, and the configured tracking-number formats."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary,
                      description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (ScanV1, ManifestV1):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    document_headers(doc)
    document_tracking_numbers(doc, settings.tracking_numbers())
    app.openapi_schema = doc
    return doc
