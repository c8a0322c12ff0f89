"""The API on a real database, in-process: a TestClient, the service behind it, and keys."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcelflow.adapters.credentials import CredentialStore, Issued, Kind, Role
from parcelflow.api.app import create_app, credential_store
from parcelflow.application.service import ParcelService
from parcelflow.logs import configure_logging
from parcelflow.projections.registry import runner
from parcelflow.settings import Settings


@dataclass
class Api:
    client: TestClient
    service: ParcelService
    settings: Settings
    keys: CredentialStore
    logs: io.StringIO
    issued: dict[str, Issued] = field(default_factory=dict)

    def key(self, name: str, kind: Kind, **kwargs: Any) -> Issued:
        if name not in self.issued:
            self.issued[name] = self.keys.create(kind, name, **kwargs)
        return self.issued[name]

    def auth(self, who: str) -> dict[str, str]:
        """Headers for a ready-made principal: a scanner at SZX-OUT-07 / SZX-HUB-01 /
        SHA-HUB-02 / SHA-STA-13, the order system, or staff by role name."""
        if who == "orders":
            issued = self.key("orders", Kind.MANIFESTS)
        elif who in {r.value for r in Role}:
            issued = self.key(f"emp-{who}", Kind.STAFF, role=Role(who))
        else:
            issued = self.key(f"scanner-{who}", Kind.SCANNER, facility=who)
        return {"Authorization": f"Bearer {issued.token}"}

    def catch_up(self, *names: str) -> None:
        """What `parcelflow project --follow` does in production, done now."""
        for name in names or ("tracking", "exceptions"):
            r = runner(self.service, name)
            try:
                r.run()
            finally:
                r.close()

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line.strip()]


def make_api(service: ParcelService, database_url: str, **overrides: Any) -> Iterator[Api]:
    # Tests read /readyz right after a write; the cache of it has its own test.
    overrides.setdefault("api_ops_cache_seconds", 0)
    settings = Settings(_env_file=None, database_url=database_url, **overrides)  # type: ignore[call-arg]
    logs = io.StringIO()
    configure_logging("json", "INFO", stream=logs)
    app = create_app(settings, service=service)
    try:
        with TestClient(app, client=("203.0.113.7", 50000)) as client:
            yield Api(client, service, settings, credential_store(service, settings), logs)
    finally:
        configure_logging("json", "INFO")


@pytest.fixture
def api(make_service: Callable[..., ParcelService], postgres_url: str) -> Iterator[Api]:
    """The API on a fresh PostgreSQL database, on the test's hand-moved clock."""
    yield from make_api(make_service(postgres_url), postgres_url)


def is_problem(response: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 answer with this status; its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    return body
