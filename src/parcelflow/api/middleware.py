"""Pure ASGI middleware: request context (id, access log, metrics, safe 500s) and body limits.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it costs less per request, and the
request id bound here in structlog's context variables reaches every log line of the
request, including those written by the service in the threadpool (the threadpool runs
each call in a copy of the request's context).
"""

from __future__ import annotations

import re
import time
import traceback
import os


import structlog
from starlette.requests import Request
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
        metrics.HTTP_REQUESTS.labels(template, method, str(status)).inc()
        metrics.HTTP_SECONDS.labels(template).observe(seconds)
        # The path template, never the path or the query: a query may carry phone digits.
        log.info("http.request", method=method, route=template, status=status,
                 ms=round(seconds * 1000, 2))


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

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

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
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

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(Request(scope), Problem(
            413, "body-too-large", f"the request body is larger than {self.limit} bytes"))
        await response(scope, receive, send)


