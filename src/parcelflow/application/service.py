"""ParcelService: the parcel use cases over the event store.

Batches are the unit of work. A batch of scans or manifests is grouped by parcel, every
touched parcel is loaded in one query, changed in memory, and all of them are saved
with one `save()` call: one transaction, one table lock. If another writer changed one
of those parcels meanwhile, the store refuses the whole save; only the parcels that
actually conflicted are reloaded and redone, the others are saved as they were.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application, LRUCache
from eventsourcing.persistence import IntegrityError

from parcelflow import metrics
from parcelflow.adapters.keystore import KeyStore
from parcelflow.adapters.store import ParcelRecorderMixin
from parcelflow.application.personal_data import ErasedError, PersonalData
from parcelflow.application.results import BatchReport, ItemResult, ItemStatus
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.network import Network
from parcelflow.domain.errors import DomainError
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import Policy
from parcelflow.domain.timeline import Scan
from parcelflow.domain.vocabulary import ExceptionCode, Outcome
from parcelflow.wire.manifests import ManifestV1, RejectedManifest, validate_manifests
from parcelflow.wire.scans import Rejected, ScanLimits, ScanV1, validate_scans

log = structlog.get_logger(__name__)

T = TypeVar("T")
# A parcel's part of a batch: given the parcel as stored (None: not yet), return it
# changed (or None to leave nothing) and what to report.
Work = Callable[[Parcel | None], tuple[Parcel | None, Any]]


class ParcelNotFound(LookupError):
    def __init__(self, tracking_no: str):
        super().__init__(f"no parcel with tracking number {tracking_no}")
        self.tracking_no = tracking_no


class ConflictRetriesExhausted(RuntimeError):
    pass


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def plain_tz(moment: datetime) -> datetime:
    """The same instant with a stdlib fixed-offset tzinfo (what the store reads back)."""
    offset = moment.utcoffset()
    assert offset is not None, "naive datetimes never reach the domain"
    return moment.astimezone(timezone(offset))


def scan_from_wire(item: ScanV1, network: Network) -> Scan:
    """A validated wire scan as the domain knows it, with the registry's facility kind."""
    return Scan(
        scan_id=item.scan_id,
        scan_type=item.type,
        occurred_at=plain_tz(item.occurred_at),
        facility=item.facility,
        device_id=item.device_id,
        operator_id=item.operator_id,
        next_facility=item.next_facility,
        exception_code=item.exception_code,
        attempt_reason=item.attempt_reason,
        signed_by=item.signed_by,
        note=item.note,
        facility_kind=network.kind_of(item.facility),
    )


def replay(events: Iterable[Any]) -> Parcel:
    """A parcel from its events. The library's `project_aggregate` does the same but
    checks every event against a runtime protocol first, which on Python 3.11 cost a
    sixth of a cold ingest batch (measured with py-spy through the API)."""
    parcel = None
    for event in events:
        parcel = event.mutate(parcel)
    assert isinstance(parcel, Parcel)
    return parcel


class ParcelService(Application[UUID]):
    name = "parcelflow"
    MAX_CONFLICT_RETRIES = 5

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        keys: KeyStore | Callable[[Any], KeyStore],
        network: Network,
        policy: Policy | None = None,
        limits: ScanLimits | None = None,
        clock: Callable[[], datetime] = utcnow,
        cache_size: int = 0,
    ):
        super().__init__(env)
        self.recorder: ParcelRecorderMixin  # type: ignore[assignment]
        self.network = network
        self.policy = policy or Policy()
        self.limits = limits or ScanLimits()
        self.clock = clock
        store = keys if isinstance(keys, KeyStore) else keys(self.factory.datastore)  # type: ignore[attr-defined]
        self.personal = PersonalData(store)
        # The ingest path's own cache: parcels stay in memory between batches, so a
        # worker that owns a partition loads each parcel once. It is trusted without
        # re-reading the store (no fast-forward query per parcel): a stale entry shows up
        # as a conflict at save time and is then reloaded, and an answer from it that
        # changed nothing is checked against the stored version (see `_run_batch`).
        # Reads never use it.
        self._cache: LRUCache[UUID, Parcel] | None = (
            LRUCache(maxsize=cache_size) if cache_size > 0 else None
        )

    # ---- batch unit of work -----------------------------------------------------------

    def load_many(self, ids: Collection[UUID], *, use_cache: bool = True) -> dict[UUID, Parcel]:
        """Parcels by id, from the cache or in one query; unknown ids are left out."""
        return self._load(ids, use_cache=use_cache)[0]

    def _load(self, ids: Collection[UUID], *, use_cache: bool = True
              ) -> tuple[dict[UUID, Parcel], dict[UUID, int]]:
        """Parcels by id, and the version of each one served from the cache."""
        found: dict[UUID, Parcel] = {}
        cached: dict[UUID, int] = {}
        missing = []
        for pid in ids:
            try:
                if self._cache is None or not use_cache:
                    raise KeyError(pid)
                found[pid] = self._cache.get(pid)
                cached[pid] = found[pid].version
            except KeyError:
                missing.append(pid)
        if missing:
            for pid, stored in self.recorder.select_events_for(missing).items():
                found[pid] = replay(map(self.mapper.to_domain_event, stored))
        return found, cached

    def _stale(self, cached: dict[UUID, int]) -> list[UUID]:
        """Which of these cached parcels another process has written since (one query)."""
        if not cached:
            return []
        stored = self.recorder.max_versions(list(cached))
        return [pid for pid, version in cached.items() if stored.get(pid, version) != version]

    def _evict(self, ids: Iterable[UUID]) -> None:
        if self._cache is not None:
            for pid in ids:
                try:
                    self._cache.get(pid, evict=True)
                except KeyError:
                    pass

    def _run_batch(self, work: dict[UUID, Work]) -> tuple[dict[UUID, Any], BatchReport]:
        outcomes: dict[UUID, Any] = {}
        ready: dict[UUID, tuple[Parcel, list[Parcel.Event]]] = {}
        pending = dict(work)
        cached: dict[UUID, int] = {}  # parcels of this attempt served from the cache

        def apply(pid: UUID, parcel: Parcel | None, unsure: dict[UUID, int]) -> None:
            """Run `pid`'s work. An answer that changed nothing (a duplicate, a refusal)
            given from a cached parcel is `unsure`: the cache may be behind another
            process's writes, which only a save would otherwise reveal."""
            version = cached.get(pid)
            try:
                parcel, outcomes[pid] = work[pid](parcel)
            except DomainError:
                self._evict([pid])  # it may hold half of the refused change
                if version is None or not self._stale({pid: version}):
                    raise
                del cached[pid]  # refused on a stale copy: once more, on the stored one
                apply(pid, self.load_many([pid], use_cache=False).get(pid), {})
                return
            except BaseException:
                self._evict([pid])  # it may hold half of a change
                raise
            events = parcel.collect_events() if parcel is not None else []
            if events:
                ready[pid] = (parcel, events)  # type: ignore[assignment]
                return
            if version is not None:
                unsure[pid] = version
            if parcel is not None and self._cache is not None:
                self._cache.put(pid, parcel)

        for attempt in range(self.MAX_CONFLICT_RETRIES + 1):
            current, cached = self._load(pending)
            try:
                unsure: dict[UUID, int] = {}
                for pid in pending:
                    apply(pid, current.get(pid), unsure)
                stale = self._stale(unsure)
                if stale:
                    self._evict(stale)
                    fresh = self.load_many(stale, use_cache=False)
                    cached = {}
                    for pid in stale:
                        apply(pid, fresh.get(pid), {})
                events = [e for _, evs in ready.values() for e in evs]
                if not events:
                    return outcomes, BatchReport(results=[])
                try:
                    # The events go to the store directly: `save()` would first check
                    # each one against the library's runtime protocols, which on Python
                    # 3.11 cost more than encoding it. Nothing else of `save()` applies
                    # here (no snapshots; nothing overrides `_notify`).
                    recordings = self.events.put(events)
                except IntegrityError:
                    conflicted = self._conflicted(ready)
                    if not conflicted:
                        raise
                    log.info("batch.conflict", parcels=len(conflicted), attempt=attempt + 1)
                    for pid in conflicted:
                        del ready[pid]
                    self._evict(conflicted)
                    pending = {pid: work[pid] for pid in conflicted}
                    continue
            except BaseException:
                # Whatever failed (the store, a query, a bug), no cached parcel may keep
                # changes that were not saved: the next batch would build on them.
                self._evict([*ready, *pending])
                raise
            if self._cache is not None:
                for pid, (parcel, _) in ready.items():
                    self._cache.put(pid, parcel)
            position = max((r.notification.id for r in recordings), default=None)
            return outcomes, BatchReport(results=[], position=position, events=len(events))
        self._evict(ready)
        raise ConflictRetriesExhausted(
            f"{len(pending)} parcels still conflicted after {self.MAX_CONFLICT_RETRIES} retries"
        )

    def _conflicted(self, ready: dict[UUID, tuple[Parcel, list[Parcel.Event]]]) -> list[UUID]:
        stored = self.recorder.max_versions(list(ready))
        return [
            pid for pid, (_, events) in ready.items()
            if stored.get(pid, 0) >= events[0].originator_version
        ]

    def _command(self, tracking_no: str, action: Callable[[Parcel], T]) -> T:
        def run(parcel: Parcel | None) -> tuple[Parcel | None, T]:
            if parcel is None:
                raise ParcelNotFound(tracking_no)
            return parcel, action(parcel)

        outcomes, _ = self._run_batch({parcel_id(tracking_no): run})
        return outcomes[parcel_id(tracking_no)]

    def command(self, tracking_no: str, action: Callable[[Parcel], T]) -> T:
        """Run one command on one parcel and save what it did (conflicts are retried)."""
        return self._command(tracking_no, action)

    def command_many(self, actions: dict[str, Callable[[Parcel], T]]
                     ) -> dict[str, T | DomainError | ParcelNotFound]:
        """Run a command on each of many parcels in one unit of work: one load query,
        one save. A parcel whose command is refused (or that does not exist) is left
        as it was and reported; the others are saved."""
        def work(tracking_no: str, action: Callable[[Parcel], T]) -> Work:
            def run(parcel: Parcel | None) -> tuple[Parcel | None, Any]:
                if parcel is None:
                    return None, ParcelNotFound(tracking_no)
                try:
                    return parcel, action(parcel)
                except DomainError as e:
                    self._evict([parcel.id])  # it may hold half of the refused change
                    return None, e
            return run

        ids = {parcel_id(n): n for n in actions}
        outcomes, _ = self._run_batch({pid: work(n, actions[n]) for pid, n in ids.items()})
        return {ids[pid]: outcome for pid, outcome in outcomes.items()}

    # ---- scans ---------------------------------------------------------------------

    def ingest(self, items: Sequence[Any], *, now: datetime | None = None) -> BatchReport:
        """Record a batch of scans (wire format v1): one result per item, in order.

        Accepted, duplicate (its scan_id is already recorded, or repeated in this
        batch), or rejected with a reason. Valid items are never lost because others
        in the batch are bad.
        """
        started = time.perf_counter()
        now = now or self.clock()
        checked = validate_scans(items, now=now, limits=self.limits)
        results: list[ItemResult | None] = [None] * len(items)
        groups: dict[UUID, list[tuple[int, ScanV1]]] = {}
        seen: set[tuple[str, str]] = set()
        for index, item in enumerate(checked):
            if isinstance(item, Rejected):
                results[index] = ItemResult(index, ItemStatus.REJECTED, item.scan_id, item.reason)
            elif (item.tracking_no, item.scan_id) in seen:
                results[index] = ItemResult(index, ItemStatus.DUPLICATE, item.scan_id)
            else:
                seen.add((item.tracking_no, item.scan_id))
                groups.setdefault(parcel_id(item.tracking_no), []).append((index, item))

        work = {pid: self._scan_work(group, now) for pid, group in groups.items()}
        outcomes, report = self._run_batch(work)
        for pid, group in groups.items():
            recorded = outcomes[pid]
            for (index, item), ok in zip(group, recorded, strict=True):
                if isinstance(ok, str):
                    results[index] = ItemResult(index, ItemStatus.REJECTED, item.scan_id, ok)
                else:
                    status = ItemStatus.ACCEPTED if ok else ItemStatus.DUPLICATE
                    results[index] = ItemResult(index, status, item.scan_id)
        report.results = [r for r in results if r is not None]
        metrics.SCANS_ACCEPTED.inc(report.accepted)
        metrics.SCANS_DUPLICATE.inc(report.duplicates)
        for rejected in report.rejected:
            metrics.SCANS_REJECTED.labels(metrics.reason_kind(rejected.reason or "")).inc()
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
        log.info("scans.ingested", accepted=report.accepted, duplicates=report.duplicates,
                 rejected=len(report.rejected), events=report.events)
        return report

    def _scan_work(self, group: list[tuple[int, ScanV1]], now: datetime) -> Work:
        scans = [self.to_scan(item) for _, item in group]
        tracking_no = group[0][1].tracking_no

        def run(parcel: Parcel | None) -> tuple[Parcel | None, list[bool] | list[str]]:
            try:
                if parcel is None:
                    parcel = Parcel.seen_before_manifest(tracking_no, recorded_at=now)
                return parcel, parcel.record_scans(scans, recorded_at=now)
            except DomainError as e:  # a poison scan costs its parcel's batch share, no more
                log.error("scans.domain_error", tracking_no=tracking_no, error=str(e))
                return None, [f"could not be recorded: {e}"] * len(scans)

        return run

    def to_scan(self, item: ScanV1) -> Scan:
        return scan_from_wire(item, self.network)

    # ---- manifests -----------------------------------------------------------------

    def register(self, items: Sequence[Any], *, by: str | None = None) -> BatchReport:
        """Register parcels from manifests (wire format v1): one result per item.

        A manifest for a parcel already scanned without one attaches to it (and clears
        its `unmanifested` exception). The same manifest twice is a duplicate; a
        different manifest for a registered parcel is rejected.
        """
        now = self.clock()
        checked = validate_manifests(items)
        results: list[ItemResult | None] = [None] * len(items)
        groups: dict[UUID, list[tuple[int, ManifestV1]]] = {}
        for index, item in enumerate(checked):
            if isinstance(item, RejectedManifest):
                results[index] = ItemResult(
                    index, ItemStatus.REJECTED, item.tracking_no, item.reason
                )
            else:
                groups.setdefault(parcel_id(item.tracking_no), []).append((index, item))
        sealer = self.personal.sealer(groups)
        manifests: dict[UUID, list[tuple[int, Manifest | str]]] = {}
        for pid, group in groups.items():
            for index, item in group:
                try:
                    sealed: Manifest | str = self._seal_manifest(pid, item, sealer)
                except ErasedError as e:
                    sealed = str(e)
                manifests.setdefault(pid, []).append((index, sealed))

        def work(pid: UUID) -> Work:
            def run(parcel: Parcel | None) -> tuple[Parcel | None, list[ItemResult]]:
                out = []
                for index, manifest in manifests[pid]:
                    if isinstance(manifest, str):
                        out.append(ItemResult(index, ItemStatus.REJECTED, None, manifest))
                        continue
                    key = manifest.tracking_no
                    if parcel is None:
                        parcel = Parcel.register(manifest, recorded_at=now, operator_id=by)
                        out.append(ItemResult(index, ItemStatus.ACCEPTED, key))
                    elif parcel.manifest is None:
                        parcel.attach_manifest(manifest, recorded_at=now, operator_id=by)
                        out.append(ItemResult(index, ItemStatus.ACCEPTED, key,
                                              "attached to the parcel already scanned"))
                    elif parcel.manifest.fingerprint == manifest.fingerprint:
                        out.append(ItemResult(index, ItemStatus.DUPLICATE, key))
                    else:
                        out.append(ItemResult(
                            index, ItemStatus.REJECTED, key,
                            "already registered with a different manifest; "
                            "use a redirect or a correction to change it",
                        ))
                return parcel, out

            return run

        outcomes, report = self._run_batch({pid: work(pid) for pid in manifests})
        for out in outcomes.values():
            for result in out:
                results[result.index] = result
        report.results = [r for r in results if r is not None]
        log.info("parcels.registered", accepted=report.accepted, duplicates=report.duplicates,
                 rejected=len(report.rejected))
        return report

    def _seal_manifest(self, pid: UUID, item: ManifestV1, sealer: Any) -> Manifest:
        sender = item.sender.model_dump()
        receiver = item.receiver.model_dump(exclude={"language"})
        return Manifest(
            tracking_no=item.tracking_no,
            service_level=item.service_level,
            origin=item.origin,
            destination=item.destination,
            sender_sealed=sealer.seal(pid, sender),
            receiver_sealed=sealer.seal(pid, receiver),
            receiver_language=item.receiver.language,
            declared_value=item.declared_value,
            insured=item.insured,
            postage=item.postage,
            promised_by=plain_tz(item.promised_by),
            customer_tier=item.customer_tier,
            merchant_id=item.merchant_id,
            fingerprint=sealer.fingerprint(pid, item.model_dump(mode="json")),
        )

    # ---- exceptions, corrections and other commands ----------------------------------

    def raise_exception(self, tracking_no: str, code: ExceptionCode, *, by: str,
                        detail: str = "") -> str:
        now = self.clock()
        return self._command(tracking_no, lambda p: p.raise_exception(
            code, recorded_at=now, by=by, detail=detail))

    def acknowledge_exception(self, tracking_no: str, exception_id: str, *, by: str) -> None:
        now = self.clock()
        self._command(tracking_no, lambda p: p.acknowledge_exception(
            exception_id, by=by, recorded_at=now))

    def resolve_exception(self, tracking_no: str, exception_id: str, outcome: Outcome, *,
                          by: str, note: str | None = None) -> None:
        now = self.clock()
        self._command(tracking_no, lambda p: p.resolve_exception(
            exception_id, outcome, by=by, recorded_at=now, note=note))

    def void_event(self, tracking_no: str, version: int, *, reason: str, by: str) -> None:
        now = self.clock()
        self._command(tracking_no, lambda p: p.void(
            version, reason=reason, by=by, recorded_at=now))

    def amend_scan(self, tracking_no: str, version: int, changes: dict[str, Any], *,
                   reason: str, by: str) -> None:
        now = self.clock()
        if "facility" in changes and "facility_kind" not in changes:
            kind = self.network.kind_of(changes["facility"])
            changes = {**changes, "facility_kind": str(kind) if kind else None}
        self._command(tracking_no, lambda p: p.amend_scan(
            version, changes, reason=reason, by=by, recorded_at=now))

    def cancel(self, tracking_no: str, *, reason: str, by: str) -> None:
        now = self.clock()
        self._command(tracking_no, lambda p: p.cancel(reason=reason, by=by, recorded_at=now))

    def redirect_receiver(self, tracking_no: str, receiver: dict[str, Any], *, reason: str,
                          by: str) -> None:
        now = self.clock()
        pid = parcel_id(tracking_no)
        sealed = self.personal.sealer([pid]).seal(pid, receiver)
        self._command(tracking_no, lambda p: p.redirect_receiver(
            sealed, reason=reason, by=by, recorded_at=now))

    def change_promised_time(self, tracking_no: str, promised_by: datetime, *, reason: str,
                             by: str) -> None:
        now = self.clock()
        self._command(tracking_no, lambda p: p.change_promised_time(
            plain_tz(promised_by), reason=reason, by=by, recorded_at=now))

    def revise_eta(self, tracking_no: str, eta: datetime, *, reason: str, by: str) -> None:
        now = self.clock()
        self._command(tracking_no, lambda p: p.revise_eta(
            plain_tz(eta), reason=reason, by=by, recorded_at=now))

    def erase(self, tracking_no: str, *, by: str, reason: str = "erasure request") -> bool:
        """Destroy the parcel's data key; its personal data reads as [erased] from now on.

        The key goes first: if recording the erasure then failed, the data would still
        be gone, and running erase again records it.
        """
        self.get(tracking_no)  # refuse unknown tracking numbers before destroying anything
        destroyed = self.personal.erase(parcel_id(tracking_no))
        now = self.clock()
        self._command(tracking_no, lambda p: p.record_erasure(
            reason=reason, by=by, recorded_at=now))
        log.info("parcel.erased", tracking_no=tracking_no, key_destroyed=destroyed)
        return destroyed

    # ---- reads -------------------------------------------------------------------

    def get(self, tracking_no: str) -> Parcel:
        """The parcel as stored now (never from the ingest cache)."""
        try:
            parcel = self.repository.get(parcel_id(tracking_no))
        except AggregateNotFoundError:
            raise ParcelNotFound(tracking_no) from None
        assert isinstance(parcel, Parcel)
        return parcel

    def stored_events(self, tracking_no: str) -> list[Parcel.Event]:
        """A parcel's events in order, as stored."""
        events: list[Parcel.Event] = list(self.events.get(parcel_id(tracking_no)))  # type: ignore[arg-type]
        if not events:
            raise ParcelNotFound(tracking_no)
        return events

    def as_of(self, tracking_no: str, moment: datetime) -> Parcel:
        """The parcel as the system knew it at `moment` (events recorded by then)."""
        known = [e for e in self.stored_events(tracking_no) if e.recorded_at <= moment]
        if not known:
            raise ParcelNotFound(tracking_no)
        return replay(known)
