"""CLI commands for the service surface: serve, health, and keys (API credentials)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Annotated, Optional

import typer
from rich.table import Table

from parcelflow.entrypoints.cli import JsonFlag, fail, out, service
from parcelflow.settings import get_settings

keys = typer.Typer(help="API credentials: scanner keys, manifests keys, staff tokens.",
                   no_args_is_help=True)


def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on "
                                                "(default: PARCELFLOW_API_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default: PARCELFLOW_API_PORT).")]
    = None,
    workers: Annotated[Optional[int], typer.Option(
        help="Worker processes (default: PARCELFLOW_API_WORKERS).")] = None,
) -> None:
    """Run the HTTP API (scans, parcels, tracking, exceptions, health, metrics)."""
    import uvicorn

    from parcelflow.api.server import BoundedHeadProtocol

    settings = get_settings()
    # No uvicorn access log: its request line carries the query string, which may hold
    # phone digits. The API writes its own access line (route template, status, time).
    uvicorn.run(
        "parcelflow.api.app:create_app", factory=True,
        host=host or settings.api_host, port=port or settings.api_port,
        workers=workers or settings.api_workers, access_log=False, log_config=None,
        proxy_headers=True, forwarded_allow_ips=settings.api_trusted_proxies,
        server_header=False, http=BoundedHeadProtocol,
    )


def health(
    projection: Annotated[Optional[list[str]], typer.Option(
        "--projection", help="Also check this read model's lag (repeatable).")] = None,
    max_lag: Annotated[Optional[float], typer.Option(
        help="Seconds a read model may be behind (default: PARCELFLOW_API_READY_MAX_LAG).")]
    = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the database.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Exit 0 when the database answers (and the given read models are caught up), else 1.
    For container health checks."""
    from parcelflow.projections.registry import PROJECTIONS, runner

    unknown = set(projection or ()) - set(PROJECTIONS)
    if unknown:
        fail(f"no projection {', '.join(sorted(unknown))}; known: {', '.join(PROJECTIONS)}", 2)
    limit = max_lag if max_lag is not None else get_settings().api_ready_max_lag.total_seconds()
    reasons: list[str] = []
    lags = []
    try:
        _reachable(get_settings().database_url, timeout)
        svc = service()
        svc.recorder.max_notification_id()
        for name in projection or ():
            lag = runner(svc, name).lag()
            lags.append(lag.to_json())
            if lag.seconds > limit:
                reasons.append(f"{name} is {lag.seconds:.0f} s behind (limit {limit:.0f} s)")
    except Exception as e:  # noqa: BLE001 — any failure is unhealthy; say what kind
        reasons.append(f"database unreachable ({type(e).__name__})")
    if as_json:
        print(json.dumps({"healthy": not reasons, "reasons": reasons, "projections": lags}))
    else:
        out.print("healthy" if not reasons else "unhealthy: " + "; ".join(reasons))
    if reasons:
        raise typer.Exit(1)


_open: list[object] = []  # the service behind the store must outlive it (it owns the pool)


def _reachable(database_url: str, timeout: float) -> None:
    """Fail fast on an unreachable server (the store's pool would wait 30 s)."""
    from parcelflow.adapters.store import is_postgres

    if is_postgres(database_url):
        import psycopg

        psycopg.connect(database_url, connect_timeout=max(1, int(timeout))).close()


def _store():  # type: ignore[no-untyped-def]
    from parcelflow.api.app import credential_store

    svc = service()
    _open.append(svc)
    return credential_store(svc, get_settings())


KIND_HELP = "scanner (posts scans for one facility), manifests (the order system) or staff"


@keys.command("create")
def create(
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    name: Annotated[str, typer.Option(
        help="Device id, system name, or staff member's employee id (no personal names).")],
    facility: Annotated[Optional[str], typer.Option(
        help="Scanner keys: the facility it posts scans for.")] = None,
    role: Annotated[Optional[str], typer.Option(
        help="Staff tokens: cs_agent, supervisor, auditor or admin.")] = None,
    require_signature: Annotated[bool, typer.Option(
        "--require-signature", help="Scanner/manifests keys: refuse unsigned requests.")]
    = False,
    lifetime: Annotated[Optional[str], typer.Option(
        help="Staff tokens: how long it is valid, ISO 8601 (default "
        "PARCELFLOW_API_STAFF_TOKEN_LIFETIME, 12 hours).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key; its token (and signing secret) are shown this once only."""
    from parcelflow.adapters.credentials import Kind, Role

    try:
        kind_ = Kind(kind)
        role_ = Role(role) if role else None
    except ValueError as e:
        fail(f"{e}; kinds: {', '.join(Kind)}; roles: {', '.join(Role)}", 2)
    if facility and kind_ != Kind.SCANNER:
        fail("--facility is for scanner keys", 2)
    if role_ and kind_ != Kind.STAFF:
        fail("--role is for staff tokens", 2)
    if facility:
        from parcelflow.bootstrap import load_network

        if facility not in load_network(get_settings().network_file).facilities:
            fail(f"no facility {facility} in the network registry", 2)
    try:
        issued = _store().create(kind_, name, facility=facility, role=role_,
                                 require_signature=require_signature,
                                 lifetime=_duration(lifetime, "--lifetime"))
    except ValueError as e:
        fail(str(e), 2)
    _show_issued(issued, as_json, f"created {kind_} key {issued.credential.key_id} for {name}")


def _duration(value: str | None, option: str) -> timedelta | None:
    if value is None:
        return None
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(timedelta).validate_python(value)
    except ValidationError:
        fail(f"{option}: not an ISO 8601 duration such as PT12H", 2)
        raise


def _show_issued(issued, as_json: bool, headline: str) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print(json.dumps({**issued.credential.to_json(), "token": issued.token,
                          "signing_secret": issued.signing_secret}))
        return
    out.print(headline)
    if issued.credential.expires_at is not None:
        out.print(f"expires {_when(issued.credential.expires_at)}")
    out.print(f"token (shown once; send as Authorization: Bearer ...):\n  {issued.token}")
    if issued.signing_secret:
        out.print(f"signing secret (shown once; for X-Parcelflow-Signature):\n  "
                  f"{issued.signing_secret}")


@keys.command("rotate")
def rotate(
    key_id: Annotated[str, typer.Argument(help="The key id (see `keys list`).")],
    grace: Annotated[str, typer.Option(
        help="How long the old key stays valid, ISO 8601 (PT0S: refused at once; give "
        "devices time to take the new one, e.g. PT1H).")] = "PT0S",
    lifetime: Annotated[Optional[str], typer.Option(
        help="Staff tokens: the new token's lifetime (default: the configured one).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace a key with a new one of the same kind, scope and role; its token (and
    signing secret) are shown this once only."""
    try:
        issued = _store().rotate(key_id, grace=_duration(grace, "--grace") or timedelta(0),
                                 lifetime=_duration(lifetime, "--lifetime"))
    except KeyError:
        fail(f"no active key {key_id}")
    except ValueError as e:
        fail(str(e), 2)
    old = "refused from now on" if grace in ("PT0S", "P0D") else f"valid for {grace} more"
    _show_issued(issued, as_json, f"new key {issued.credential.key_id} for "
                 f"{issued.credential.name}; {key_id} is {old}")


@keys.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (see `keys list`).")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    if not _store().revoke(key_id):
        fail(f"no active key {key_id}")
    out.print(f"revoked {key_id}")


def _when(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@keys.command("list")
def list_keys(
    active: Annotated[bool, typer.Option("--active", help="Only keys not revoked.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every key (never its secret)."""
    found = _store().list(include_revoked=not active)
    if as_json:
        print(json.dumps([c.to_json() for c in found]))
        return
    table = Table("key id", "kind", "name", "facility", "role", "signed", "created", "expires",
                  "revoked")
    for c in found:
        table.add_row(c.key_id, str(c.kind), c.name, c.facility or "", str(c.role or ""),
                      "required" if c.require_signature else "", _when(c.created_at),
                      _when(c.expires_at), _when(c.revoked_at))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(health)
    app.add_typer(keys, name="keys")
