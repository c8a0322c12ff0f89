"""API credentials: scanner keys, manifest-system keys and staff tokens, stored hashed.

A credential is shown once, at creation, as `pf_<key id>_<secret>`. Only the SHA-256 of
the secret is kept: the secrets are 256 random bits, so a plain hash is as strong as a
slow password hash would be, and checking one costs microseconds per request.

Staff tokens expire (12 hours by default, `PARCELFLOW_API_STAFF_TOKEN_LIFETIME`): they
are held by people, typed into tools and pasted into tickets. Scanner and manifests keys
are held by machines and stay valid until revoked; `rotate` replaces any key with a fresh
one of the same kind, scope and role, the old one valid for a grace period or not at all.

Keys that may sign requests also get a signing secret. The server must know it to check
an HMAC, so it cannot be hashed; it is kept wrapped with the credentials master key
(envelope encryption, like the parcels' data keys). The two secrets are independent: a
bearer token that leaks (say from a proxy's log) cannot forge a signed request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from parcelflow.adapters.sealing import KeyWrap
from parcelflow.adapters.sql_tables import SqlTables

TOKEN_PREFIX = "pf"
SIGNING_PREFIX = "pfs_"
# The wrap binds each signing secret to its key id (AES-GCM associated data).
_WRAP_NAMESPACE = UUID("0c1f7e0a-54a3-4b8e-9d8f-5b1a2c3d4e5f")


class Kind(StrEnum):
    SCANNER = "scanner"  # posts scans for its own facility
    MANIFESTS = "manifests"  # the order system: registers parcels
    STAFF = "staff"  # people, with a role


class Role(StrEnum):
    CS_AGENT = "cs_agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Credential:
    key_id: str
    kind: Kind
    name: str  # device id, system name, or staff member's employee id
    facility: str | None
    role: Role | None
    require_signature: bool
    created_at: float
    revoked_at: float | None
    signing_secret: bytes | None = None  # unwrapped, only when read for a request
    expires_at: float | None = None  # staff tokens; None: valid until revoked

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or time.time())

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id, "kind": str(self.kind), "name": self.name,
            "facility": self.facility, "role": str(self.role) if self.role else None,
            "require_signature": self.require_signature, "created_at": self.created_at,
            "revoked_at": self.revoked_at, "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class Issued:
    """What the holder is given, once: the token, and the signing secret if any."""

    credential: Credential
    token: str
    signing_secret: str | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class CredentialStore(SqlTables):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS api_credentials ("
        "key_id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, facility TEXT, "
        "role TEXT, secret_hash TEXT NOT NULL, signing_secret TEXT, "
        "require_signature INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
        "revoked_at DOUBLE PRECISION)",
    )

    def __init__(self, datastore: Any, wrap: KeyWrap, *,
                 staff_lifetime: timedelta = timedelta(hours=12)):
        super().__init__(datastore)
        self.wrap = wrap
        self.staff_lifetime = staff_lifetime

    def _create(self) -> None:
        super()._create()
        # Tables made before credentials could expire lack the column: add it (a NULL
        # keeps every existing key valid until it is revoked or rotated).
        with self.transaction() as c:
            if self.is_postgres:
                c.execute("ALTER TABLE api_credentials ADD COLUMN IF NOT EXISTS "
                          "expires_at DOUBLE PRECISION")
            else:
                c.execute("PRAGMA table_info(api_credentials)")
                if "expires_at" not in {row[1] for row in c.fetchall()}:
                    c.execute("ALTER TABLE api_credentials ADD COLUMN expires_at REAL")

    def create(self, kind: Kind, name: str, *, facility: str | None = None,
               role: Role | None = None, require_signature: bool = False,
               lifetime: timedelta | None = None) -> Issued:
        """A new key. Staff tokens expire after `lifetime` (default: the store's
        `staff_lifetime`); scanner and manifests keys do not expire."""
        if kind == Kind.SCANNER and not facility:
            raise ValueError("a scanner key needs the facility it scans for")
        if kind == Kind.STAFF and role is None:
            raise ValueError("a staff token needs a role")
        if kind == Kind.STAFF and require_signature:
            raise ValueError("staff tokens are not used for signed requests")
        if lifetime is not None and (kind != Kind.STAFF or lifetime <= timedelta(0)):
            raise ValueError("a lifetime is for staff tokens, and must be positive")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        signing = SIGNING_PREFIX + secrets.token_urlsafe(32) if kind != Kind.STAFF else None
        wrapped = (base64.b64encode(self.wrap.wrap(self._ad(key_id), signing.encode())).decode()
                   if signing else None)
        now = time.time()
        expires = (now + (lifetime or self.staff_lifetime).total_seconds()
                   if kind == Kind.STAFF else None)
        self.execute(
            "INSERT INTO api_credentials (key_id, kind, name, facility, role, secret_hash, "
            "signing_secret, require_signature, created_at, revoked_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            [key_id, str(kind), name, facility, str(role) if role else None, _digest(secret),
             wrapped, int(require_signature), now, expires],
        )
        credential = Credential(key_id, kind, name, facility, role, require_signature, now, None,
                                expires_at=expires)
        return Issued(credential, f"{TOKEN_PREFIX}_{key_id}_{secret}", signing)

    def rotate(self, key_id: str, *, grace: timedelta = timedelta(0),
               lifetime: timedelta | None = None) -> Issued:
        """A new key like `key_id` (kind, name, facility, role, signing); the old one is
        refused after `grace` (at once with none). KeyError: no such active key."""
        rows = self.query("SELECT * FROM api_credentials WHERE key_id = ?", [key_id])
        old = self._credential(rows[0]) if rows else None
        if old is None or old.revoked or old.expired():
            raise KeyError(key_id)
        issued = self.create(old.kind, old.name, facility=old.facility, role=old.role,
                             require_signature=old.require_signature,
                             lifetime=lifetime if old.kind == Kind.STAFF else None)
        now = time.time()
        if grace <= timedelta(0):
            self.execute("UPDATE api_credentials SET revoked_at = ? WHERE key_id = ?",
                         [now, key_id])
        else:
            until = now + grace.total_seconds()
            if old.expires_at is not None:
                until = min(until, old.expires_at)
            self.execute("UPDATE api_credentials SET expires_at = ? WHERE key_id = ?",
                         [until, key_id])
        return issued

    def authenticate(self, token: str) -> Credential | None:
        """The credential a bearer token stands for; None when unknown or wrong.

        A revoked credential is returned (so the caller can say so); check `revoked`.
        """
        parts = split_token(token)
        if parts is None:
            return None
        rows = self.query("SELECT * FROM api_credentials WHERE key_id = ?", [parts[0]])
        if not rows or not hmac.compare_digest(rows[0]["secret_hash"], _digest(parts[1])):
            return None
        return self._credential(rows[0], with_secret=True)

    def by_id(self, key_id: str) -> Credential | None:
        """The credential with this key id (without its signing secret), or None: for a
        session that was opened with its token and is checked again on every request."""
        rows = self.query("SELECT * FROM api_credentials WHERE key_id = ?", [key_id])
        return self._credential(rows[0]) if rows else None

    def revoke(self, key_id: str) -> bool:
        return self.execute(
            "UPDATE api_credentials SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            [time.time(), key_id]) > 0

    def list(self, *, include_revoked: bool = True) -> list[Credential]:
        rows = self.query("SELECT * FROM api_credentials ORDER BY created_at, key_id")
        found = [self._credential(r) for r in rows]
        return [c for c in found if include_revoked or not (c.revoked or c.expired())]

    def _ad(self, key_id: str) -> UUID:
        return uuid5(_WRAP_NAMESPACE, key_id)

    def _credential(self, row: dict[str, Any], *, with_secret: bool = False) -> Credential:
        signing = None
        if with_secret and row["signing_secret"]:
            signing = self.wrap.unwrap(self._ad(row["key_id"]),
                                       base64.b64decode(row["signing_secret"]))
        return Credential(
            key_id=row["key_id"], kind=Kind(row["kind"]), name=row["name"],
            facility=row["facility"], role=Role(row["role"]) if row["role"] else None,
            require_signature=bool(row["require_signature"]), created_at=row["created_at"],
            revoked_at=row["revoked_at"], signing_secret=signing,
            expires_at=row.get("expires_at"),
        )


class CredentialCache:
    """Bearer tokens already verified, reused for `seconds` instead of a query each.

    `POST /v1/scans` read its key's row on every request: a round trip, 12% of a scan's
    time (bench/profiles/README.md §4). Here a token that authenticated is remembered,
    by the SHA-256 of the whole token (never the token itself), with the credential it
    stands for and when it was read; within `seconds` the same token is answered from
    memory. So a key revoked, rotated out or shortened (`parcelflow keys revoke` /
    `rotate`, in another process) is refused at most `seconds` after the change, not at
    the very next request (`PARCELFLOW_API_CREDENTIAL_CACHE_SECONDS`, 2 by default, at
    most 60; 0 reads the row every time). A staff token's expiry is checked against the
    clock on every request, cached or not. Unknown tokens and wrong secrets are never
    cached (each costs its query, as before), and at most `size` tokens are kept.
    """

    def __init__(self, store: CredentialStore, seconds: float, size: int = 10_000):
        self.store = store
        self.seconds = seconds
        self.size = size
        self._known: dict[str, tuple[float, Credential]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> Credential | None:
        """The credential of a token verified less than `seconds` ago; None: ask the
        store (`authenticate`). No I/O: callable on the event loop."""
        if self.seconds <= 0:
            return None
        found = self._known.get(_digest(token))
        if found is None or time.monotonic() - found[0] >= self.seconds:
            return None
        return found[1]

    def authenticate(self, token: str) -> Credential | None:
        """The store's answer (a query), remembered when the token is genuine."""
        read_at = time.monotonic()
        credential = self.store.authenticate(token)
        if credential is not None and self.seconds > 0:
            key = _digest(token)
            with self._lock:
                if len(self._known) >= self.size and key not in self._known:
                    now = time.monotonic()
                    stale = [k for k, (at, _) in self._known.items() if now - at >= self.seconds]
                    for old in stale or list(self._known)[: max(1, self.size // 10)]:
                        del self._known[old]
                self._known[key] = (read_at, credential)
        return credential

    def forget(self, key_id: str | None = None) -> None:
        """Drop what is remembered (of one key id): a change made in this process then
        applies from the next request."""
        with self._lock:
            for key in [k for k, (_, c) in self._known.items()
                        if key_id is None or c.key_id == key_id]:
                del self._known[key]
