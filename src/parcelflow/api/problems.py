"""Errors as RFC 9457 problem details (`application/problem+json`), everywhere.

Every error the API answers goes through here: its own (`Problem`), FastAPI's request
validation, Starlette's HTTP errors (404 for an unknown route, 405, ...); anything unexpected is
caught by the request middleware (a 500 that says nothing about the data). Messages name fields and reasons,
never the values sent: a value may be a phone number.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from parcelflow.wire.reasons import field_path, unknown_fields

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://parcelflow.dev/problems/"

_TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 408: "Request timeout", 409: "Conflict", 410: "Gone", 413: "Content too large",
    415: "Unsupported media type", 422: "Unprocessable content", 429: "Too many requests",
    500: "Internal server error", 503: "Service unavailable",
}


class FieldError(BaseModel):
    field: str = Field(description="where: a dotted path such as body.0.facility or query.limit")
    reason: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="the request path (without its query)")
    request_id: str | None = None
    errors: list[FieldError] | None = Field(None, description="for validation problems")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses."""
    return {
        status: {"model": ProblemDetails, "description": _TITLES.get(status, "Error"),
                 "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}
        for status in statuses
    }


class Problem(Exception):
    """An error answer; raise it anywhere in a request."""

    def __init__(self, status: int, kind: str, detail: str | None = None, *,
                 title: str | None = None, headers: dict[str, str] | None = None,
                 errors: list[dict[str, str]] | None = None):
        super().__init__(detail or kind)
        self.status, self.kind, self.detail = status, kind, detail
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}
        self.errors = errors


def problem_response(request: Request | None, problem: Problem) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.kind,
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    if problem.errors is not None:
        body["errors"] = problem.errors
    return Response(orjson.dumps(body), status_code=problem.status, media_type=PROBLEM_JSON,
                    headers=problem.headers)


MAX_ERRORS = 20  # listed per answer; the rest are counted


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """FastAPI/pydantic errors as (field, reason), without the values that were sent, with
    unknown fields named only when their names look like field names, and bounded: 5,000
    unknown fields are one entry, and at most MAX_ERRORS entries are listed."""
    found: list[dict[str, str] | list[str]] = []
    unknown: dict[str, list[str]] = {}
    for e in errors:
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "extra_forbidden" and loc:
            parent = field_path(loc[:-1])
            if parent not in unknown:
                unknown[parent] = []
                found.append(unknown[parent])
            unknown[parent].append(str(loc[-1]))
            continue
        found.append({"field": field_path(loc) or "request",
                      "reason": str(e.get("msg", "invalid"))})
    parents = {id(names): parent for parent, names in unknown.items()}
    entries = [entry if isinstance(entry, dict) else
               {"field": parents[id(entry)] or "request",
                "reason": unknown_fields("", entry)} for entry in found]
    if len(entries) > MAX_ERRORS:
        rest = len(entries) - MAX_ERRORS
        entries = entries[:MAX_ERRORS] + [{"field": "request",
                                           "reason": f"and {rest} more problems"}]
    return entries


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(request, Problem(
            422, "validation", "the request does not match the API's schema",
            errors=validation_errors(list(exc.errors()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem_response(request, Problem(exc.status_code, kind, detail,
                                                 headers=headers))


def allowed_methods(request: Request) -> str:
    """Every method of the request's path. Starlette's 405 names only the methods of the
    first route whose path matched, and GET and POST of one path are two routes here.
    (Asked route by route with each method: included routers hide their routes' methods.)"""
    methods = [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": m})[0] == Match.FULL
                      for route in request.app.routes)]
    return ", ".join(methods)
