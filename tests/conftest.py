from __future__ import annotations

import os

# The tests are development runs: long-running commands they start on PostgreSQL need no
# master keys (tests of that rule set it back to false).
os.environ.setdefault("PARCELFLOW_DEVELOPMENT", "true")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parcelflow.application.service import ParcelService
from parcelflow.bootstrap import build_service
from parcelflow.settings import Settings
from tests.support.builders import Clock
from tests.support.kafka_broker import KafkaBroker, broker_fixture
from tests.support.postgres import fresh_database

pytest_plugins = ["tests.support.api"]  # the `api` fixture: the HTTP API on PostgreSQL


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each contract test runs once per backend: the embedded SQLite file and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/parcelflow.db"
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def make_service(clock: Clock) -> Iterator[Callable[..., ParcelService]]:
    """Build services on a database; all are closed after the test."""
    made: list[ParcelService] = []

    def make(database_url: str, **kwargs: object) -> ParcelService:
        settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
        svc = build_service(settings, clock=kwargs.pop("clock", clock), **kwargs)  # type: ignore[arg-type]
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def service(make_service: Callable[..., ParcelService], database_url: str) -> ParcelService:
    return make_service(database_url)


@pytest.fixture
def runners(service: ParcelService) -> Iterator[dict[str, object]]:
    """Every projection's runner on the service's database."""
    from parcelflow.projections.registry import runners as build

    built = {r.name: r for r in build(service)}
    yield built
    for r in built.values():
        r.close()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One real Kafka-protocol broker (Tansu) for the session: tests use their own topics
    and groups (tests/support/kafka_settings.py). A test that restarts the broker starts
    its own instead."""
    yield from broker_fixture()


@pytest.fixture(scope="session")
def postgres_servers() -> Iterator[list[object]]:
    """Three throwaway PostgreSQL servers on other ports (the machine's own binaries),
    for the sharding tests: a test takes fresh databases on two or three of them."""
    from tests.support.pg_servers import postgres_servers as start

    with start(3) as servers:
        yield servers


@pytest.fixture
def two_shards(postgres_servers: list[object]) -> Iterator[list[str]]:
    from tests.support.pg_servers import shard_databases

    with shard_databases(postgres_servers, 2) as urls:  # type: ignore[arg-type]
        yield urls


@pytest.fixture
def three_shards(postgres_servers: list[object]) -> Iterator[list[str]]:
    from tests.support.pg_servers import shard_databases

    with shard_databases(postgres_servers, 3) as urls:  # type: ignore[arg-type]
        yield urls
