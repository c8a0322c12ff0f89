"""One `parcelflow serve` on PostgreSQL and one Chromium for the whole session: the
browser tests share them (each test has its own browser context and its own parcels)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from parcelflow.adapters.credentials import Kind
from parcelflow.api.app import credential_store
from parcelflow.bootstrap import build_service
from parcelflow.projections.registry import runners
from parcelflow.settings import Settings
from tests.support.browser import DESKTOP, launch
from tests.support.builders import Clock
from tests.support.postgres import fresh_database
from tests.support.serving import serving

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SURVEY_SECRET = "browser-tests-survey-" + "s" * 24  # the server's and the mailer's
_numbers = itertools.count(9_000_001)  # parcels of the browser tests, apart from others'


@dataclass
class Site:
    """The server the browser talks to, and what the tests need to set it up."""

    base: str
    database_url: str
    log_path: Path
    settings: Settings
    service: Any
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def token(self, kind: Kind, name: str, **kwargs: Any) -> str:
        if name not in self.tokens:
            issued = credential_store(self.service, self.settings).create(kind, name, **kwargs)
            self.tokens[name] = issued.token
        return self.tokens[name]

    def post(self, path: str, body: Any, token: str) -> dict[str, Any]:
        r = httpx.post(self.url(path), json=body, headers={"Authorization": f"Bearer {token}"},
                       timeout=30)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def register(self, *manifests: dict[str, Any], at: datetime) -> None:
        """Parcels registered at `at` (the order system's clock), as `POST /v1/parcels`
        would, so their scans can follow in the past."""
        self.clock.now = at
        report = self.service.register(list(manifests))
        assert [str(r.status) for r in report.results] == ["accepted"] * len(manifests), report

    def scan(self, *scans: dict[str, Any]) -> None:
        """Scans through the API, each facility's with its own scanner key."""
        by_facility: dict[str, list[dict[str, Any]]] = {}
        for s in scans:
            by_facility.setdefault(s["facility"], []).append(s)
        for facility, batch in by_facility.items():
            token = self.token(Kind.SCANNER, f"scanner-{facility}", facility=facility)
            answer = self.post("/v1/scans", batch, token)
            assert answer["accepted"] == len(batch), answer

    def catch_up(self) -> None:
        """What `parcelflow project --follow` does in production, done now."""
        for r in runners(self.service):
            try:
                r.run()
            finally:
                r.close()

    @staticmethod
    def new_number() -> int:
        return next(_numbers)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("site")
    with fresh_database() as db:
        settings = Settings(_env_file=None, database_url=db)  # type: ignore[call-arg]
        clock = Clock()
        service = build_service(settings, clock=clock)
        try:
            # A fixed cookie key, and lookup limits no test run reaches by accident (the
            # proof limit keeps its default: a test counts up to it).
            with serving(workdir, db, PARCELFLOW_WEB_SECRET_KEY="browser-tests-" + "k" * 32,
                         PARCELFLOW_SURVEY_SECRET=SURVEY_SECRET,
                         PARCELFLOW_API_LOOKUP_LIMIT_PER_ADDRESS="100000/minute",
                         PARCELFLOW_API_LOOKUP_LIMIT_PER_PARCEL="100000/minute"
                         ) as (base, _, log_path):
                yield Site(base, db, log_path, settings, service, clock)
        finally:
            service.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Pages:
    """Opens pages in fresh browser contexts; collects what the console said (a CSP
    violation is reported there) and closes everything after the test."""

    browser: Any
    contexts: list[Any] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def open(self, *, locale: str = "en-GB", viewport: dict[str, int] = DESKTOP,
             java_script: bool = True) -> Any:
        context = self.browser.new_context(locale=locale, viewport=viewport,
                                           java_script_enabled=java_script)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        # A page answered 404 or 422 is a page too (the console reports it as a failed
        # load): what counts is a script error, a CSP refusal, or an asset that failed.
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                and not m.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on("response", lambda r: self.console.append(f"{r.status}: {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" else None)
        return page


@pytest.fixture
def pages(browser: Any) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        context.close()
    assert not opened.console, "the pages reported errors:\n" + "\n".join(opened.console)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests write their screenshots: docs/screenshots (committed, shown in the
    README) with PARCELFLOW_WRITE_SCREENSHOTS=1, a temporary folder otherwise, so a test
    run does not leave the working tree changed."""
    if os.environ.get("PARCELFLOW_WRITE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def parcels(site: Site) -> Any:
    from tests.browser.parcels import seed

    return seed(site)
