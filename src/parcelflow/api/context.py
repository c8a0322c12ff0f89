"""What the API's routes share: the service, the settings and the API's own stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from parcelflow.adapters.credentials import CredentialStore
from parcelflow.adapters.request_log import RequestLog
from parcelflow.api.ratelimit import LookupLimits
from parcelflow.api.tracking import PhoneProofs
from parcelflow.application.service import ParcelService
from parcelflow.settings import Settings


@dataclass
class ApiContext:
    settings: Settings
    service: ParcelService
    credentials: CredentialStore
    requests: RequestLog
    limits: LookupLimits
    proofs: PhoneProofs
    tracking: Any  # the tracking view's store (projections)
    exceptions: Any  # the exception queue's store (projections)
    lag_runners: list[Any]  # read models /readyz watches (never run here: lag only)


def context(request: Request) -> ApiContext:
    return request.app.state.ctx  # type: ignore[no-any-return]
