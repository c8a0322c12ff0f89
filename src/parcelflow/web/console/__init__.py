"""The customer-service console at /console: staff sign in with their staff token and
work the exception queue, complaints and claims, read the statistics and audit parcels,
through the same application services, read models and role checks as the API.

An area of `parcelflow.web` (listed in `web.base.PAGES`): `router` holds its pages,
`install(app)` its answers to a missing session and to a refusal.
"""

from __future__ import annotations

from fastapi import APIRouter

from parcelflow.web.console import audit, cases, routes, stats
from parcelflow.web.console.pages import install

router = APIRouter(include_in_schema=False)
for _area in (routes, cases, stats, audit):
    router.include_router(_area.router)

__all__ = ["install", "router"]
