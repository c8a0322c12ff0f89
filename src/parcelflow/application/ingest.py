"""Ingesting scans: a batch of wire scans (v1) recorded in one unit of work.

Each item is validated on its own, duplicates by `scan_id` are dropped (those already
recorded, and those repeated in the batch), the rest are grouped by parcel and recorded
on it; a parcel scanned before its manifest is created to hold them. One result per
item, in order: accepted, duplicate, or rejected with a reason. A valid item is never
lost because others in the batch are bad, and a scan its parcel refuses costs that
parcel's share of the batch, no more. Who signed (beyond a role word) and the scanner's
note are free text that may name a person: they are sealed with the parcel's key, like
the manifest's parties, before anything is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from parcelflow import metrics
from parcelflow.application.personal_data import PersonalData, Sealer, is_role
from parcelflow.application.results import BatchReport, ItemResult, ItemStatus, item_result
from parcelflow.application.unit_of_work import UnitOfWork, Work
from parcelflow.domain.errors import DomainError
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.network import Network
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.timeline import Scan
from parcelflow.wire.scans import Rejected, ScanLimits, ScanV1, validate_scans

log = structlog.get_logger(__name__)


def scan_from_wire(item: ScanV1, network: Network) -> Scan:
    """A validated wire scan as the domain knows it, with the registry's facility kind.

    Made as `Scan(...)` would make it, without the frozen dataclass's setattr per field
    (every field is given here; tests/unit/test_frozen.py compares it with the
    constructor's)."""
    scan = object.__new__(Scan)
    state = scan.__dict__  # key by key, in field order (see frozen.py: half the memory)
    state["scan_id"] = item.scan_id
    state["scan_type"] = item.type
    state["occurred_at"] = item.occurred_at  # already its offset's shared tzinfo (plain_tz)
    state["facility"] = item.facility
    state["device_id"] = item.device_id
    state["operator_id"] = item.operator_id
    state["next_facility"] = item.next_facility
    state["exception_code"] = item.exception_code
    state["attempt_reason"] = item.attempt_reason
    state["signed_by"] = item.signed_by
    state["note"] = item.note
    state["facility_kind"] = network.kind_of(item.facility)
    return scan


def _private(item: ScanV1) -> bool:
    """Whether the scan carries free text that may name a person."""
    return bool(item.note or (item.signed_by and not is_role(item.signed_by)))


def _sealed(scan: Scan, pid: UUID, sealer: Sealer) -> Scan:
    signed_by = scan.signed_by
    if signed_by and not is_role(signed_by):
        signed_by = sealer.seal_text(pid, signed_by)
    return replace(scan, note=sealer.seal_text(pid, scan.note), signed_by=signed_by)


def ingest_scans(work: UnitOfWork, items: Sequence[Any], *, network: Network,
                 limits: ScanLimits, personal: PersonalData, now: datetime) -> BatchReport:
    started = time.perf_counter()
    checked = validate_scans(items, now=now, limits=limits)
    results: list[ItemResult | None] = [None] * len(items)
    groups: dict[str, list[tuple[int, ScanV1]]] = {}  # by tracking number (unit_of_work)
    seen: set[tuple[str, str]] = set()
    rejected: list[ItemResult] = []
    duplicates = 0
    private_numbers: set[str] = set()
    for index, item in enumerate(checked):
        if isinstance(item, Rejected):
            results[index] = result = item_result(index, REJECTED, item.scan_id, item.reason)
            rejected.append(result)
        elif (item.tracking_no, item.scan_id) in seen:
            results[index] = item_result(index, DUPLICATE, item.scan_id)
            duplicates += 1
        else:
            seen.add((item.tracking_no, item.scan_id))
            groups.setdefault(item.tracking_no, []).append((index, item))
            if (item.note or item.signed_by) and _private(item):
                private_numbers.add(item.tracking_no)

    # The keys of the parcels with text to seal, in one query for the batch.
    private = ([parcel_id(number) for number in groups if number in private_numbers]
               if private_numbers else [])
    sealer = personal.sealer(private) if private else None
    saved = work.run({number: _scan_work(number, group, network, now, sealer)
                      for number, group in groups.items()})
    outcomes = saved.outcomes
    for number, group in groups.items():
        for (index, item), ok in zip(group, outcomes[number], strict=True):
            if ok is True:
                results[index] = item_result(index, ACCEPTED, item.scan_id)
            elif isinstance(ok, str):
                results[index] = result = item_result(index, REJECTED, item.scan_id, ok)
                rejected.append(result)
            else:
                results[index] = item_result(index, DUPLICATE, item.scan_id)
                duplicates += 1
    report = BatchReport(results=results, position=saved.position,  # type: ignore[arg-type]
                         events=saved.events)
    # Counted here, once: the report's properties each walk every result.
    accepted = len(results) - duplicates - len(rejected)
    metrics.SCANS_ACCEPTED.inc(accepted)
    metrics.SCANS_DUPLICATE.inc(duplicates)
    for result in rejected:
        metrics.SCANS_REJECTED.labels(metrics.reason_kind(result.reason or "")).inc()
    metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
    log.info("scans.ingested", accepted=accepted, duplicates=duplicates,
             rejected=len(rejected), events=report.events)
    return report


ACCEPTED, DUPLICATE, REJECTED = ItemStatus.ACCEPTED, ItemStatus.DUPLICATE, ItemStatus.REJECTED


def _scan_work(tracking_no: str, group: list[tuple[int, ScanV1]], network: Network,
               now: datetime, sealer: Sealer | None) -> Work:
    scans = [scan_from_wire(item, network) for _, item in group]
    if sealer is not None:
        pid = parcel_id(tracking_no)
        scans = [_sealed(scan, pid, sealer) for scan in scans]

    def run(parcel: Parcel | None) -> tuple[Parcel | None, list[bool] | list[str]]:
        try:
            if parcel is None:
                parcel = Parcel.seen_before_manifest(tracking_no, recorded_at=now)
            return parcel, parcel.record_scans(scans, recorded_at=now)
        except DomainError as e:  # a poison scan costs its parcel's batch share, no more
            log.error("scans.domain_error", tracking_no=tracking_no, error=str(e))
            return None, [f"could not be recorded: {e}"] * len(scans)

    return run
