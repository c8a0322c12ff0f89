"""Who is signed in to the console, and whether a form really came from the console.

Signing in takes a staff token (`parcelflow keys create staff ...`) once; the browser then
holds a session cookie (HttpOnly, SameSite=Strict, Secure over https, path /console) and
never the token. On every request the session's credential is read again and put through
the API's own checks (`api.auth.admit`): a revoked or expired token, or a role that may
not do this, is refused here exactly as the API refuses it.

CSRF: every state-changing form carries the session's token (htmx sends it as a header);
the sign-in form, before there is a session, carries a token that must match a cookie set
with the form (double submit). SameSite=Strict already keeps other sites' requests from
carrying the cookie; the tokens also hold where a browser ignores it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from parcelflow.adapters.credentials import Credential, Kind, Role
from parcelflow.adapters.staff_sessions import StaffSession, StaffSessions
from parcelflow.api.auth import admit, may
from parcelflow.api.context import ApiContext, context
from parcelflow.api.problems import Problem

SESSION_COOKIE = "pf_console"
SIGN_IN_COOKIE = "pf_console_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
PATH = "/console"


class SignInNeeded(Exception):
    """No live session: the page answers with the sign-in form."""


class Refused(Exception):
    """The console's refusals, shown as a page (status, and what to do about it)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Staff:
    credential: Credential
    session: StaffSession

    @property
    def name(self) -> str:
        return self.credential.name

    @property
    def role(self) -> Role | None:
        return self.credential.role

    def may(self, *roles: Role) -> bool:
        return may(self.credential, roles)

    def require(self, *roles: Role) -> None:
        try:
            admit(self.credential, (Kind.STAFF,), roles)
        except Problem as e:
            raise Refused(e.status, e.detail or e.title) from None


def sessions(request: Request) -> StaffSessions:
    """The sessions store, made on first use from the API's context (same database)."""
    state = request.app.state
    store = getattr(state, "console_sessions", None)
    if store is None:
        ctx: ApiContext = context(request)
        store = StaffSessions(ctx.service.factory.datastore,  # type: ignore[attr-defined]
                              idle=ctx.settings.console_session_idle.total_seconds())
        state.console_sessions = store
    return store  # type: ignore[no-any-return]


def cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "path": PATH,
            "secure": request.url.scheme == "https"}


async def signed_in(request: Request) -> Staff:
    """A dependency: the signed-in staff member, checked as the API checks a token."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInNeeded
    store = sessions(request)
    session = await run_in_threadpool(store.find, session_id)
    if session is None:
        raise SignInNeeded
    credential = await run_in_threadpool(context(request).credentials.by_id, session.key_id)
    try:
        admit(credential, (Kind.STAFF,))
    except Problem:
        # Revoked or expired since signing in: the session ends with its token.
        await run_in_threadpool(store.end, session_id)
        raise SignInNeeded from None
    assert credential is not None
    return Staff(credential, session)


async def sign_in(request: Request, response: Response, token: str) -> Staff:
    """Open a session for a staff token; Refused (naming no secret) when it is not one."""
    credential = await run_in_threadpool(context(request).credentials.authenticate, token)
    try:
        admit(credential, (Kind.STAFF,))
    except Problem as e:
        raise Refused(e.status, e.detail or e.title) from None  # the API's words: they name no secret
    assert credential is not None
    session_id, session = await run_in_threadpool(sessions(request).start, credential.key_id)
    response.set_cookie(SESSION_COOKIE, session_id, **cookie_options(request))
    response.delete_cookie(SIGN_IN_COOKIE, path=PATH)
    return Staff(credential, session)


async def sign_out(request: Request, response: Response) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await run_in_threadpool(sessions(request).end, session_id)
    response.delete_cookie(SESSION_COOKIE, path=PATH)


def with_sign_in_token(request: Request, page: Callable[[str], Response]) -> Response:
    """The sign-in form, `page(token)`, with its CSRF token kept (or set now) in its own
    cookie."""
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    response = page(token)
    response.set_cookie(SIGN_IN_COOKIE, token, **cookie_options(request))
    return response


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def check_sign_in_csrf(request: Request, sent: str | None) -> None:
    if not _same(request.cookies.get(SIGN_IN_COOKIE), sent):
        raise Refused(403, "the form has expired or did not come from this console; "
                      "reload the page and try again")


def check_csrf(request: Request, staff: Staff, form: Any) -> None:
    """Refuse a state-changing request without the session's CSRF token."""
    sent = form.get(CSRF_FIELD) if form is not None else None
    if not _same(staff.session.csrf_token, sent or request.headers.get(CSRF_HEADER)):
        raise Refused(403, "the form has expired or did not come from this console; "
                      "reload the page and try again")
