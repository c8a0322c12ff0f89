"""The read models the console reads beyond the API's own (cases, stats): opened once per
app, on the service's database."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from parcelflow.api.context import context
from parcelflow.projections.registry import open_view


def read_model(request: Request, name: str) -> Any:
    opened: dict[str, Any] | None = getattr(request.app.state, "console_views", None)
    if opened is None:
        opened = request.app.state.console_views = {}
    if name not in opened:
        opened[name] = open_view(context(request).service, name)
    return opened[name]
