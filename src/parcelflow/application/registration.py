"""Registering parcels: a batch of manifests (wire format v1) in one unit of work.

The personal data in each manifest is sealed with its parcel's key before anything is
stored. A manifest for a parcel already scanned without one attaches to it (and clears
its `unmanifested` exception). The same manifest twice is a duplicate; a different
manifest for a registered parcel is rejected; so is one for a parcel whose personal
data was erased.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from parcelflow.application.personal_data import ErasedError, PersonalData, Sealer
from parcelflow.application.results import BatchReport, ItemResult, ItemStatus
from parcelflow.application.unit_of_work import UnitOfWork, Work
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.times import plain_tz
from parcelflow.wire.manifests import ManifestV1, RejectedManifest, validate_manifests
from parcelflow.wire.tracking_numbers import TrackingNumbers

log = structlog.get_logger(__name__)


def register_manifests(work: UnitOfWork, items: Sequence[Any], *, personal: PersonalData,
                       now: datetime, tracking_numbers: TrackingNumbers, cities: Collection[str],
                       by: str | None = None) -> BatchReport:
    checked = validate_manifests(items, tracking_numbers=tracking_numbers, cities=cities)
    results: list[ItemResult | None] = [None] * len(items)
    groups: dict[str, list[tuple[int, ManifestV1]]] = {}  # by tracking number (unit_of_work)
    for index, item in enumerate(checked):
        if isinstance(item, RejectedManifest):
            results[index] = ItemResult(index, ItemStatus.REJECTED, item.tracking_no, item.reason)
        else:
            groups.setdefault(item.tracking_no, []).append((index, item))
    sealer = personal.sealer([parcel_id(number) for number in groups])
    manifests: dict[str, list[tuple[int, Manifest | str]]] = {}
    for number, group in groups.items():
        pid = parcel_id(number)
        for index, item in group:
            try:
                sealed: Manifest | str = _seal_manifest(pid, item, sealer)
            except ErasedError as e:
                sealed = str(e)
            manifests.setdefault(number, []).append((index, sealed))

    saved = work.run({number: _register_work(manifests[number], now, by)
                      for number in manifests})
    for out in saved.outcomes.values():
        for result in out:
            results[result.index] = result
    report = BatchReport(results=[r for r in results if r is not None],
                         position=saved.position, events=saved.events)
    log.info("parcels.registered", accepted=report.accepted, duplicates=report.duplicates,
             rejected=len(report.rejected))
    return report


def _register_work(manifests: list[tuple[int, Manifest | str]], now: datetime,
                   by: str | None) -> Work:
    def run(parcel: Parcel | None) -> tuple[Parcel | None, list[ItemResult]]:
        out = []
        for index, manifest in manifests:
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


def _seal_manifest(pid: UUID, item: ManifestV1, sealer: Sealer) -> Manifest:
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
