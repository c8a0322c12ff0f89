"""Pure ASGI middleware: request context (id, access log, metrics, safe 500s), query text,
and body limits (size and time).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it costs less per request, and the
request id bound here in structlog's context variables reaches every log line of the
request, including those written by the service in the threadpool (the threadpool runs
each call in a copy of the request's context).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import time
import traceback
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parcelflow import metrics
from parcelflow.api.problems import Problem, problem_response

log = structlog.get_logger("parcelflow.api")

REQUEST_ID_HEADER = "x-request-id"
# A client's own request id is kept only if it cannot smuggle anything into a log line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class _Sent:
    """Watches the response on its way out: did it start, with which status."""

    def __init__(self, send: Send, request_id: str):
        self._send = send
        self.request_id = request_id.encode()
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = list(message.get("headers", []))
            headers.append((REQUEST_ID_HEADER.encode(), self.request_id))
            message = {**message, "headers": headers}
        await self._send(message)


class RequestContext:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        sent = _Sent(send, request_id)
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, sent)
            except ClientDisconnect:
                # The client went away mid-upload: nobody to answer, and nothing of ours
                # went wrong. Counted as 499 (nginx's "client closed request"), not 500.
                log.info("http.client_disconnected")
                sent.status = sent.status or CLIENT_CLOSED
            except Exception as exc:  # noqa: BLE001 — answer it, log it without its text
                # The exception's message may quote data (a phone number in a bad value),
                # so the log keeps its type and where it happened, not what it says.
                frames = traceback.extract_tb(exc.__traceback__)[-4:]
                log.error("api.unexpected_error", error_type=type(exc).__name__,
                          where=[f"{f.filename}:{f.lineno} in {f.name}" for f in frames])
                if sent.status is None:
                    response = problem_response(Request(scope), Problem(
                        500, "internal", "something went wrong on our side; quote the request id"))
                    await response(scope, receive, sent)
            finally:
                self._record(scope, sent.status or 500, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        counted, timed = _series(template, method, status)
        counted.inc()
        timed.observe(seconds)
        # The path template, never the path or the query: a query may carry phone digits.
        log.info("http.request", method=method, route=template, status=status,
                 ms=round(seconds * 1000, 2))


CLIENT_CLOSED = 499


@functools.lru_cache(maxsize=4096)  # routes x methods x statuses: a few hundred at most
def _series(template: str, method: str, status: int) -> tuple[Any, Any]:
    """The two metric children a request is counted in. prometheus_client's `labels()`
    takes a lock and builds the key on every call; a child, once made, is the same
    object for the process's life (nothing here removes labels)."""
    return (metrics.HTTP_REQUESTS.labels(template, method, str(status)),
            metrics.HTTP_SECONDS.labels(template))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


class QueryText:
    """Refuse query strings that are not UTF-8 or carry control characters, for every
    route at once: no parameter has a use for them, and a NUL reaches PostgreSQL only to
    fail there (a text value cannot hold one). A value without a parameter name is refused
    too: silently ignoring it would answer as if no filter had been sent."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        problem = _query_problem(query) if query else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        field, reason = problem
        response = problem_response(Request(scope), Problem(
            400, "bad-query", "the query string cannot be read",
            errors=[{"field": field, "reason": reason}]))
        await response(scope, receive, send)


def _query_problem(query: bytes) -> tuple[str, str] | None:
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:  # raw bytes beyond ASCII, or a %-escape that is not UTF-8
        return "query", "must be UTF-8, percent-encoded"
    for name, value in pairs:
        if not name:  # "?=0": a value no parameter can be meant to receive (schemathesis)
            return "query", "every parameter must have a name"
        if _CONTROL.search(name) or _CONTROL.search(value):
            shown = name if _NAME.fullmatch(name) else "(unnamed)"
            return f"query.{shown}", "must not contain control characters"
    return None


OPS_PATHS = frozenset({"/metrics", "/readyz", "/openapi.json"})


class OpsLimit:
    """The operations routes anyone may call, limited per client address: they read the
    database (or build a large document), so an unlimited flood of them slows the
    lookups customers make. /healthz is left alone: it reads nothing, and an orchestrator
    must never be told 429 by a liveness probe."""

    def __init__(self, app: ASGIApp, paths: frozenset[str]):
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in self.paths:
            client = scope.get("client")
            limit = scope["app"].state.ctx.limits.ops_per_address
            try:  # in the threadpool: a shared store is a network round trip
                await run_in_threadpool(limit.hit, client[0] if client else "unknown")
            except Problem as refused:
                await problem_response(Request(scope), refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared or streamed, and bodies
    that take longer than `timeout` seconds to arrive with 408: a stalled upload would
    otherwise hold its connection (and a threadpool slot waiting on it) for as long as
    the client likes."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float = 30.0):
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False
        deadline = asyncio.get_running_loop().time() + self.timeout

        async def counting_receive() -> Message:
            nonlocal seen
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow() from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)
        except BodyTooSlow:
            if not started:
                await self._refuse(scope, receive, send, Problem(
                    408, "body-timeout", f"the request body did not arrive within "
                    f"{self.timeout:g} seconds", headers={"Connection": "close"}))

    async def _refuse(self, scope: Scope, receive: Receive, send: Send,
                      problem: Problem | None = None) -> None:
        response = problem_response(Request(scope), problem or Problem(
            413, "body-too-large", f"the request body is larger than {self.limit} bytes"))
        await response(scope, receive, send)


