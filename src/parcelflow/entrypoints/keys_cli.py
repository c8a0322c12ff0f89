"""`parcelflow keys`: API credentials (scanner keys, manifests keys, staff tokens), the
checkpoint signing key, and the rotation of the personal-data master key."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Optional

import typer
from rich.table import Table

from parcelflow.adapters.credentials import Kind, Role
from parcelflow.entrypoints.cli_support import (
    JsonFlag,
    err,
    fail,
    one_of,
    out,
    print_json,
    service,
)
from parcelflow.settings import get_settings

app = typer.Typer(help="API credentials (scanner keys, manifests keys, staff tokens), the "
                  "checkpoint signing key, the master key's rotation.",
                  no_args_is_help=True)

_open: list[object] = []  # the service behind the store must outlive it (it owns the pool)


def _store():  # type: ignore[no-untyped-def]
    from parcelflow.api.app import credential_store

    svc = service()
    _open.append(svc)
    return credential_store(svc, get_settings())


KIND_HELP = "scanner (posts scans for one facility), manifests (the order system) or staff"


@app.command("create")
def create(
    kind: Annotated[Kind, typer.Argument(help=KIND_HELP)],
    name: Annotated[str, typer.Option(
        help="Device id, system name, or staff member's employee id (no personal names).")],
    facility: Annotated[Optional[str], typer.Option(
        help="Scanner keys: the facility it posts scans for.")] = None,
    role: Annotated[Optional[Role], typer.Option(
        metavar="ROLE", help=one_of("Staff tokens: what they may do.", Role))] = None,
    require_signature: Annotated[bool, typer.Option(
        "--require-signature", help="Scanner/manifests keys: refuse unsigned requests.")]
    = False,
    lifetime: Annotated[Optional[str], typer.Option(
        help="Staff tokens: how long it is valid, ISO 8601 (default "
        "PARCELFLOW_API_STAFF_TOKEN_LIFETIME, 12 hours).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key; its token (and signing secret) are shown this once only."""
    if facility and kind != Kind.SCANNER:
        fail("--facility is for scanner keys", 2)
    if role and kind != Kind.STAFF:
        fail("--role is for staff tokens", 2)
    if facility:
        from parcelflow.bootstrap import load_network

        if facility not in load_network(get_settings().network_file).facilities:
            fail(f"no facility {facility} in the network registry", 2)
    try:
        issued = _store().create(kind, name, facility=facility, role=role,
                                 require_signature=require_signature,
                                 lifetime=_duration(lifetime, "--lifetime"))
    except ValueError as e:
        fail(str(e), 2)
    _show_issued(issued, as_json, f"created {kind} key {issued.credential.key_id} for {name}")


def _duration(value: str | None, option: str) -> timedelta | None:
    if value is None:
        return None
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(timedelta).validate_python(value)
    except ValidationError:
        fail(f"{option}: not an ISO 8601 duration such as PT12H", 2)


def _show_issued(issued, as_json: bool, headline: str) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print_json({**issued.credential.to_json(), "token": issued.token,
                    "signing_secret": issued.signing_secret})
        return
    out.print(headline)
    if issued.credential.expires_at is not None:
        out.print(f"expires {_when(issued.credential.expires_at)}")
    out.print(f"token (shown once; send as Authorization: Bearer ...):\n  {issued.token}")
    if issued.signing_secret:
        out.print(f"signing secret (shown once; for X-Parcelflow-Signature):\n  "
                  f"{issued.signing_secret}")


@app.command("rotate")
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


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (see `keys list`).")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    if not _store().revoke(key_id):
        fail(f"no active key {key_id}")
    out.print(f"revoked {key_id}")


def _when(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@app.command("list")
def list_keys(
    active: Annotated[bool, typer.Option("--active", help="Only keys not revoked.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every key (never its secret)."""
    found = _store().list(include_revoked=not active)
    if as_json:
        print_json([c.to_json() for c in found])
        return
    table = Table("key id", "kind", "name", "facility", "role", "signed", "created", "expires",
                  "revoked")
    for c in found:
        table.add_row(c.key_id, str(c.kind), c.name, c.facility or "", str(c.role or ""),
                      "required" if c.require_signature else "", _when(c.created_at),
                      _when(c.expires_at), _when(c.revoked_at))
    out.print(table)



# ---- keys that are not API credentials -------------------------------------------------


@app.command("checkpoint-create")
def checkpoint_create(
    name: Annotated[str, typer.Option(
        help="The key's name: the checkpoints' origin, e.g. parcelflow.example/checkpoints.")
    ] = "parcelflow/checkpoints",
    as_json: JsonFlag = False,
) -> None:
    """Make a checkpoint signing key (Ed25519): the private key once, and its public key."""
    from parcelflow.adapters.signing import KeyFormatError, NoteSigner

    try:
        signer = NoteSigner.generate(name)
    except KeyFormatError as e:
        fail(str(e), 2)
    if as_json:
        print_json({"private_key": signer.private_text(), "public_key": signer.verifier_text()})
        return
    out.print("Keep the private key secret (it is shown once); publish the public key.")
    out.print(f"PARCELFLOW_CHECKPOINT_KEY={signer.private_text()}", soft_wrap=True)
    out.print(f"PARCELFLOW_CHECKPOINT_PUBLIC_KEY={signer.verifier_text()}", soft_wrap=True)


@app.command("rotate-master")
def rotate_master(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Keys per page.")] = 1000,
) -> None:
    """Rewrap every per-parcel data key under PARCELFLOW_PII_MASTER_KEY, from the key(s) in
    PARCELFLOW_PII_MASTER_KEY_PREVIOUS; the other processes keep running meanwhile."""
    from parcelflow.adapters.keystore import SqlKeyStore
    from parcelflow.bootstrap import build_service

    settings = get_settings()
    if not settings.pii_master_key or not settings.pii_master_key_previous:
        fail("set PARCELFLOW_PII_MASTER_KEY to the new master key and "
             "PARCELFLOW_PII_MASTER_KEY_PREVIOUS to the one it replaces (on every process "
             "first, so all of them read both while this runs)", 2)
    from parcelflow.application.sharding import stores

    svc = build_service(settings, cache_size=0)
    finals = []  # each shard's keys are its own: rewrapped shard by shard
    for shard in stores(svc):
        store = shard.personal.keys
        assert isinstance(store, SqlKeyStore)  # what bootstrap builds
        done = None
        for done in store.rewrap(batch):
            err.print(f"  {done.rewrapped} rewrapped, {done.current} already current")
        if done is not None:
            finals.append(done)
    if not finals:
        out.print("no data keys to rewrap")
        return
    rewrapped, current, unreadable = (sum(getattr(d, name) for d in finals)
                                      for name in ("rewrapped", "current", "unreadable"))
    out.print(f"{rewrapped} data keys rewrapped under the new master key, {current} "
              f"already under it" + (f"; {unreadable} under none of the given master keys, "
                                     "left as they were" if unreadable else ""))
    if unreadable:
        raise typer.Exit(1)
    out.print("now remove PARCELFLOW_PII_MASTER_KEY_PREVIOUS from every process")
