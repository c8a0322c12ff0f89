"""`parcelflow serve` and `parcelflow health`: the HTTP API and the containers' health check.

(API credentials: keys_cli.)
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from parcelflow.entrypoints.cli_support import JsonFlag, one_of, out, print_json, service
from parcelflow.projections.registry import ProjectionName
from parcelflow.settings import get_settings

app = typer.Typer()


@app.command()
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
    from parcelflow.entrypoints.running import require_master_keys

    settings = get_settings()
    require_master_keys(settings, "serve")
    # No uvicorn access log: its request line carries the query string, which may hold
    # phone digits. The API writes its own access line (route template, status, time).
    uvicorn.run(
        "parcelflow.api.app:create_app", factory=True,
        host=host or settings.api_host, port=port or settings.api_port,
        workers=workers or settings.api_workers, access_log=False, log_config=None,
        proxy_headers=True, forwarded_allow_ips=settings.api_trusted_proxies,
        server_header=False, http=BoundedHeadProtocol,
    )


@app.command()
def health(
    projection: Annotated[Optional[list[ProjectionName]], typer.Option(  # type: ignore[valid-type]
        "--projection", metavar="NAME",
        help=one_of("Also check this read model's lag (repeatable).", ProjectionName))] = None,
    max_lag: Annotated[Optional[float], typer.Option(
        help="Seconds a read model may be behind (default: PARCELFLOW_API_READY_MAX_LAG).")]
    = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the database.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Exit 0 when the database answers (and the given read models are caught up), else 1.
    For container health checks."""
    from parcelflow.projections.registry import runner

    limit = max_lag if max_lag is not None else get_settings().api_ready_max_lag.total_seconds()
    reasons: list[str] = []
    lags = []
    try:
        from parcelflow.application.sharding import stores

        for url in get_settings().shard_urls():  # one URL unless sharded
            _reachable(url, timeout)
        svc = service()
        for store in stores(svc):
            store.recorder.max_notification_id()
        for name in projection or ():
            lag = runner(svc, str(name)).lag()
            lags.append(lag.to_json())
            if lag.seconds > limit:
                reasons.append(f"{name} is {lag.seconds:.0f} s behind (limit {limit:.0f} s)")
    except Exception as e:  # noqa: BLE001 — any failure is unhealthy; say what kind
        reasons.append(f"database unreachable ({type(e).__name__})")
    if as_json:
        print_json({"healthy": not reasons, "reasons": reasons, "projections": lags})
    else:
        out.print("healthy" if not reasons else "unhealthy: " + "; ".join(reasons))
    if reasons:
        raise typer.Exit(1)


def _reachable(database_url: str, timeout: float) -> None:
    """Fail fast on an unreachable server (the store's pool would wait 30 s)."""
    from parcelflow.adapters.store import is_postgres

    if is_postgres(database_url):
        import psycopg

        psycopg.connect(database_url, connect_timeout=max(1, int(timeout))).close()
