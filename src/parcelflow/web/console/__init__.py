"""The customer-service console at /console: staff sign in with their staff token and
work the exception queue, complaints and claims, read the statistics and audit parcels,
through the same application services, read models and role checks as the API."""

from __future__ import annotations

from fastapi import FastAPI


def mount_console(app: FastAPI) -> None:
    from parcelflow.web.console import audit, cases, pages, routes, stats

    pages.install(app)
    for module in (routes, cases, stats, audit):
        app.include_router(module.router)
