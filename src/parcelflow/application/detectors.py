"""Detectors: catch problems before the customer calls.

A pass asks its candidate source (SQL over the read models, `projections/watchlist.py`)
which parcels may be stalled, delayed, lost, left at a pickup point or overdue on an
SLA clock; loads those parcels in batches (one query and one save per batch); lets the
domain decide on each parcel's own events; and records what it found: exceptions
(once per occurrence), revised ETAs for late parcels, SLA breaches with their
escalations. Misdirection and scan anomalies are the domain's own, raised as scans
arrive: no detector looks for them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from parcelflow import metrics
from parcelflow.application.service import ParcelService
from parcelflow.domain.detection import findings, revised_eta
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.times import plain_tz

log = structlog.get_logger(__name__)


class Candidates(Protocol):
    def catch_up(self) -> None:
        """Bring what it reads up to date with the event log."""

    def flagged(self, now: datetime) -> dict[str, set[str]]:
        """Tracking numbers worth a look at `now`, each with why."""

    def saved(self, parcels: Sequence[Parcel]) -> None:
        """Parcels a pass changed and saved, as stored now (the source may keep them, to
        catch up on their new events without loading them again)."""


@dataclass
class Decision:
    raised: list[str] = field(default_factory=list)
    eta: datetime | None = None
    breaches: list[str] = field(default_factory=list)


@dataclass
class PassReport:
    at: datetime
    candidates: int = 0
    raised: Counter[str] = field(default_factory=Counter)
    eta_revised: int = 0
    breaches: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0  # looked at, nothing to record (a view that lagged, or already done)
    refused: int = 0
    catch_up_seconds: float = 0.0
    query_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def flagged(self) -> int:
        return self.candidates - self.unchanged - self.refused

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "candidates": self.candidates, "flagged": self.flagged,
            "raised": dict(sorted(self.raised.items())), "eta_revised": self.eta_revised,
            "sla_breaches": dict(sorted(self.breaches.items())), "unchanged": self.unchanged,
            "refused": self.refused, "catch_up_seconds": round(self.catch_up_seconds, 3),
            "query_seconds": round(self.query_seconds, 3), "seconds": round(self.seconds, 3),
        }


class Detectors:
    def __init__(self, service: ParcelService, candidates: Candidates, *, batch_size: int = 500):
        self.service = service
        self.candidates = candidates
        self.batch_size = batch_size

    def _decide(self, now: datetime, looked_at: list[Parcel]) -> Callable[[Parcel], Decision]:
        policy, network = self.service.policy, self.service.network

        def run(parcel: Parcel) -> Decision:
            decision = Decision()
            looked_at.append(parcel)
            for finding in findings(parcel, policy, network, now):
                if parcel.record_finding(finding, by=f"detector:{finding.code}", recorded_at=now):
                    decision.raised.append(str(finding.code))
            eta = revised_eta(parcel, policy, network, now)
            if eta is not None:
                parcel.revise_eta(plain_tz(eta), reason="late: the rest of the route from now",
                                  by="detector:delayed", recorded_at=now)
                decision.eta = eta
            decision.breaches = [str(clock) for _, clock in parcel.check_sla(policy, now=now)]
            return decision

        return run

    def run_pass(self, now: datetime | None = None) -> PassReport:
        started = time.perf_counter()
        now = plain_tz(now or self.service.clock())
        report = PassReport(at=now)
        self.candidates.catch_up()
        report.catch_up_seconds = time.perf_counter() - started
        flagged = self.candidates.flagged(now)
        report.query_seconds = time.perf_counter() - started - report.catch_up_seconds
        report.candidates = len(flagged)
        names = sorted(flagged)
        looked_at: list[Parcel] = []
        decide = self._decide(now, looked_at)
        # Parcels this process keeps nowhere else (no ingest cache) may be handed on.
        work = getattr(self.service, "work", None)  # (a sharded network has one per shard)
        hand_on = work is not None and not work.caches
        for start in range(0, len(names), self.batch_size):
            chunk = names[start:start + self.batch_size]
            looked_at.clear()
            outcomes = self.service.command_many({n: decide for n in chunk})
            if hand_on:
                changed = {n for n, o in outcomes.items() if isinstance(o, Decision)
                           and (o.raised or o.breaches or o.eta is not None)}
                # the last look at each parcel is the one saved (a conflict redoes the work)
                last = {p.tracking_no: p for p in looked_at}
                self.candidates.saved([p for n, p in last.items() if n in changed])
            for tracking_no, outcome in outcomes.items():
                if not isinstance(outcome, Decision):
                    report.refused += 1
                    log.warning("detector.refused", tracking_no=tracking_no, error=str(outcome))
                    continue
                report.raised.update(outcome.raised)
                report.breaches.update(outcome.breaches)
                report.eta_revised += outcome.eta is not None
                if not (outcome.raised or outcome.breaches or outcome.eta):
                    report.unchanged += 1
        report.seconds = time.perf_counter() - started
        metrics.DETECTOR_PASS_SECONDS.observe(report.seconds)
        for code, n in report.raised.items():
            metrics.DETECTOR_RAISED.labels(code).inc(n)
        for clock, n in report.breaches.items():
            metrics.SLA_BREACHES.labels(clock).inc(n)
        log.info("detector.pass", **report.to_json())
        return report

    def run_every(self, seconds: float, stop: threading.Event,
                  on_pass: Callable[[PassReport], None] | None = None) -> None:
        """Pass after pass, `seconds` apart (start to start), until `stop` is set. A
        failed pass is logged and the next one tries again."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = self.run_pass()
                if on_pass:
                    on_pass(report)
            except Exception:
                log.exception("detector.pass_failed")
            stop.wait(max(0.0, seconds - (time.monotonic() - started)))
