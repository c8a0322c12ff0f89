"""Who may call what: bearer credentials, roles, and signed requests.

- Scanners: a key per device, scoped to one facility, for `POST /v1/scans`.
- The order system: a manifests key, for `POST /v1/parcels`.
- Staff: a token with a role; `admin` may do what every other role may.

Scanner and manifests keys may also sign requests: `X-Parcelflow-Timestamp` (Unix
seconds) and `X-Parcelflow-Signature: v1=<hex>`, the HMAC-SHA256 under the key's
signing secret of `"{timestamp}\\n{METHOD}\\n{path}\\n"` followed by the raw body. The
timestamp must be within the configured tolerance (5 minutes by default) and each
signature is accepted once. A key created with `--require-signature` must sign.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from parcelflow import metrics
from parcelflow.adapters.credentials import Credential, Kind, Role
from parcelflow.api.context import context
from parcelflow.api.problems import Problem

TIMESTAMP_HEADER = "X-Parcelflow-Timestamp"
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
SIGNATURE_HEADER = "X-Parcelflow-Signature"

bearer = HTTPBearer(
    auto_error=False, scheme_name="bearer",
    description="`pf_<key id>_<secret>` from `parcelflow keys create`: a scanner key, the "
    "order system's manifests key, or a staff token.")


def refuse(status: int, reason: str, detail: str) -> Problem:
    metrics.AUTH_REFUSED.labels(reason).inc()
    headers = {"WWW-Authenticate": 'Bearer realm="parcelflow"'} if status == 401 else None
    return Problem(status, "unauthorized" if status == 401 else "forbidden", detail,
                   headers=headers)


def signing_input(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    return f"{timestamp}\n{method.upper()}\n{path}\n".encode() + body


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The signature header's value (what a client computes)."""
    mac = hmac.new(secret.encode(), signing_input(timestamp, method, path, body), hashlib.sha256)
    return "v1=" + mac.hexdigest()


async def _check_signature(request: Request, credential: Credential) -> None:
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if timestamp is None and signature is None and not credential.require_signature:
        return
    if not timestamp or not signature:
        raise refuse(401, "unsigned", f"this key must sign its requests: send {TIMESTAMP_HEADER} "
                     f"and {SIGNATURE_HEADER}")
    if credential.signing_secret is None:
        raise refuse(401, "bad_signature", "this key cannot sign requests")
    ctx = context(request)
    tolerance = ctx.settings.api_signature_tolerance.total_seconds()
    # ASCII digits, a sane length: str.isdigit() takes other scripts' digits and int()
    # refuses 5,000 of them with a ValueError (a 500, not a refusal).
    if not _UNIX_SECONDS.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > tolerance:
        raise refuse(401, "stale_signature",
                     f"{TIMESTAMP_HEADER} must be Unix seconds within {int(tolerance)} s of now")
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    expected = sign(credential.signing_secret.decode(), timestamp, request.method, path, body)
    if not hmac.compare_digest(expected, signature):
        raise refuse(401, "bad_signature", "the signature does not match the request")
    if not await run_in_threadpool(ctx.requests.first_sight, signature):
        raise refuse(401, "replayed", "this signed request was already received")


Guard = Callable[..., Awaitable[Credential]]


def allow(*kinds: Kind, roles: tuple[Role, ...] = ()) -> Guard:
    """A dependency: the caller's credential, if it is one of `kinds` (and `roles`)."""

    async def guard(request: Request,
                    auth: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Credential:
        if auth is None:
            raise refuse(401, "missing", "send Authorization: Bearer <key>")
        cache = context(request).credential_cache
        assert cache is not None
        # A token verified a moment ago is answered from memory, on the event loop; else
        # one query in the threadpool (adapters/credentials.CredentialCache).
        credential = cache.cached(auth.credentials) or await run_in_threadpool(
            cache.authenticate, auth.credentials)
        admit(credential, kinds, roles)
        assert credential is not None
        await _check_signature(request, credential)
        return credential

    return guard


def admit(credential: Credential | None, kinds: tuple[Kind, ...],
          roles: tuple[Role, ...] = ()) -> None:
    """Refuse (a 401 or 403 problem) a credential that is unknown, revoked, expired, of
    another kind, or a staff member whose role is not one of `roles` (admin may do what
    every role may). The API's guards and the staff console's sessions both ask here."""
    if credential is None:
        raise refuse(401, "unknown", "unknown key, or wrong secret")
    if credential.revoked:
        raise refuse(401, "revoked", "this key was revoked")
    if credential.expired():
        raise refuse(401, "expired", "this key has expired; ask for a new one "
                     "(parcelflow keys create, or keys rotate)")
    if credential.kind not in kinds:
        raise refuse(403, "wrong_kind", f"a {credential.kind} key cannot do this")
    if not may(credential, roles):
        raise refuse(403, "role", "your role does not allow this; needed: "
                     + ", ".join(str(r) for r in roles))


def may(credential: Credential, roles: tuple[Role, ...]) -> bool:
    """Whether a credential's role allows what `roles` may do (no roles: anyone)."""
    return (credential.kind != Kind.STAFF or not roles
            or credential.role in (*roles, Role.ADMIN))


def staff(*roles: Role) -> Guard:
    return allow(Kind.STAFF, roles=roles)


scanner = allow(Kind.SCANNER)
manifests = allow(Kind.MANIFESTS)
