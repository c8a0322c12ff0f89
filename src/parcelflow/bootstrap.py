"""Wires adapters into the application: the one place a ParcelService is built.

From the settings: the event store (SQLite or PostgreSQL), the key store and its master
key, the facility registry, the service-level policy, the scan limits, the ingest
cache. Every process gets its service here. What belongs to one entry point alone is
wired there from the same settings object: the API's credential store and request log
(`api/app.py`), the workers' Kafka clients, SMTP and webhooks (`consumers/`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from parcelflow.adapters.keystore import keystore_for
from parcelflow.adapters.sealing import KeyWrap
from parcelflow.adapters.store import Pool, schema_lock, store_env
from parcelflow.application.service import ParcelService, utcnow
from parcelflow.domain.epcis import Identifiers
from parcelflow.domain.network import Network
from parcelflow.settings import Settings, get_settings
from parcelflow.wire.scans import ScanLimits

if TYPE_CHECKING:  # imported where used: most commands never make checkpoints
    from parcelflow.application.bucket_move import BucketMoves
    from parcelflow.application.checkpoints import Checkpoints, Verification
    from parcelflow.application.surveys import Surveys


@lru_cache(maxsize=8)  # read once per process: staff screens ask it for every time shown
def load_network(path: Path | None = None) -> Network:
    """The facility registry: the given file, or the bundled demo network."""
    text = path.read_text() if path else (files("parcelflow") / "data" / "network.json").read_text()
    return Network.from_dict(json.loads(text))


def build_service(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    cache_size: int | None = None,
    pool: Pool | None = None,
) -> ParcelService:
    """The parcels' application on the configured store; on several shards (more than one
    URL in `PARCELFLOW_SHARDS`) a `ShardedParcelService`, which answers the same calls.
    `pool`: the PostgreSQL connections this process needs (default: 4, and 10 more
    under load), per shard; the settings' `database_pool_*` override either figure."""
    settings = settings or get_settings()
    pool = pool or Pool()
    pool = Pool(size=settings.database_pool_size or pool.size,
                overflow=(pool.overflow if settings.database_pool_overflow is None
                          else settings.database_pool_overflow),
                application_name=settings.database_application_name)
    urls = settings.shard_urls()
    if len(urls) > 1:
        return build_sharded_service(settings, urls, clock=clock, cache_size=cache_size,
                                     pool=pool)
    return _shard_service(settings, urls[0], clock=clock, cache_size=cache_size, pool=pool)


def build_sharded_service(settings: Settings, urls: list[str], *,
                          clock: Callable[[], datetime] = utcnow,
                          cache_size: int | None = None,
                          pool: Pool | None = None) -> ParcelService:
    from parcelflow.adapters.shard_map import SqlShardMap, check_home, shard_name
    from parcelflow.application.sharding import ShardedParcelService

    shards = [_shard_service(settings, url, clock=clock, cache_size=cache_size,
                             pool=pool or Pool()) for url in urls]
    datastores = [s.factory.datastore for s in shards]  # type: ignore[attr-defined]
    from parcelflow.adapters.bucket_fence import gave_away

    try:
        check_home(datastores, urls)
        shard_map = SqlShardMap(datastores[0])
        layout = shard_map.layout(urls)
    except Exception:
        for shard in shards:
            shard.close()
        raise
    return ShardedParcelService(  # type: ignore[return-value]  # same calls
        shards, layout, [shard_name(u) for u in urls], reload=lambda: shard_map.layout(urls),
        gave_away=lambda shard, bucket: gave_away(datastores[shard], bucket))


def _shard_service(settings: Settings, database_url: str, *, clock: Callable[[], datetime],
                   cache_size: int | None, pool: Pool) -> ParcelService:
    master = settings.pii_master_key.get_secret_value() if settings.pii_master_key else None
    previous = (settings.pii_master_key_previous.get_secret_value()
                if settings.pii_master_key_previous else None)
    wrap = KeyWrap.from_setting(master, previous)
    with schema_lock(database_url):  # the service creates its tables
        return ParcelService(
            store_env(database_url, pool),
            keys=lambda datastore: keystore_for(datastore, wrap),
            network=load_network(settings.network_file),
            policy=settings.policy.build(),
            limits=ScanLimits(settings.scan_max_future, settings.scan_max_age,
                              settings.max_batch, settings.tracking_numbers()),
            clock=clock,
            cache_size=settings.ingest_cache_size if cache_size is None else cache_size,
        )


def build_checkpoints(service: ParcelService, settings: Settings | None = None
                      ) -> tuple[Checkpoints, Verification]:
    """Checkpoint making and verification on the service's database, with the keys the
    settings give (either may be absent: `make` and `verify` then say what is missing)."""
    from parcelflow.adapters.checkpoint_store import SqlCheckpointStore
    from parcelflow.adapters.signing import NoteSigner, NoteVerifier
    from parcelflow.application.checkpoints import Checkpoints, Verification

    settings = settings or get_settings()
    key = settings.checkpoint_key.get_secret_value() if settings.checkpoint_key else None
    signer = NoteSigner.from_text(key) if key else None
    verifier = (NoteVerifier.from_text(settings.checkpoint_public_key)
                if settings.checkpoint_public_key else signer.verifier() if signer else None)
    store = SqlCheckpointStore(service.factory.datastore)  # type: ignore[attr-defined]
    return (Checkpoints(service, store, signer),
            Verification(service, store, verifier, settings.checkpoint_max_merge_delay))


def epcis_identifiers(network: Network, settings: Settings | None = None) -> Identifiers:
    """How EPCIS exports name parcels and places (GS1 keys where configured)."""
    settings = settings or get_settings()
    return Identifiers(settings.epcis_uri_base, settings.gs1_company_prefix,
                       settings.gs1_extension_digit,
                       {code: f.gln for code, f in network.facilities.items() if f.gln})


def build_surveys(service: ParcelService, settings: Settings | None = None) -> Surveys | None:
    """Satisfaction surveys with the settings' signing secret; None without one."""
    from parcelflow.adapters.survey_links import SurveyTokens
    from parcelflow.application.surveys import Surveys

    settings = settings or get_settings()
    if settings.survey_secret is None:
        return None
    return Surveys(service, SurveyTokens(settings.survey_secret.get_secret_value()),
                   settings.survey_page(), settings.survey_valid_for)


def build_bucket_moves(service: ParcelService, settings: Settings | None = None) -> BucketMoves:
    """`parcelflow shards move`: the shards' move adapters, the map, the checkpoint key
    (the record of a dropped bucket is signed with it) and the followers to wait for."""
    from parcelflow.adapters.bucket_moves import MoveLog, ShardSide, follower_positions
    from parcelflow.adapters.checkpoint_store import SqlCheckpointStore
    from parcelflow.adapters.shard_map import SqlShardMap, shard_name
    from parcelflow.adapters.signing import NoteSigner
    from parcelflow.application.bucket_move import BucketMoves, MoveError

    settings = settings or get_settings()
    shards = getattr(service, "shards", None)
    if not shards:
        raise MoveError("one store: there is nowhere to move a bucket (list the servers "
                        "in PARCELFLOW_SHARDS)")
    urls = settings.shard_urls()
    names = [shard_name(u) for u in urls]
    datastores = [s.factory.datastore for s in shards]
    try:
        sides = [ShardSide(s, n) for s, n in zip(shards, names, strict=True)]
    except TypeError as e:
        raise MoveError(str(e)) from None
    key = settings.checkpoint_key.get_secret_value() if settings.checkpoint_key else None
    log_names = service.log_names  # type: ignore[attr-defined]
    return BucketMoves(
        service, sides, urls, names, SqlShardMap(datastores[0]), MoveLog(datastores[0]),
        signer=NoteSigner.from_text(key) if key else None,
        has_checkpoints=lambda i: SqlCheckpointStore(datastores[i]).newest() is not None,
        followers=lambda i: follower_positions(datastores[0], datastores[i], log_names[i]))
