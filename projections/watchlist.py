"""What the detectors look at: candidate parcels, by SQL over the read models.

A pass must stay cheap over a million parcels, so the filters run in the database on
the tracking view's (status, last_scan_at) index: quiet parcels by status with a
cut-off per service level, late ones by their promised time and ETA, and overdue SLA
clocks in the exception queue. A parcel that already has the exception (open, or for
this very occurrence) is left out by an anti-join on the queue. The decision itself is
the domain's, on the parcel's own events (`domain/detection.py`); a lagging view costs
a wasted look, never a wrong exception.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from parcelflow.application.service import ParcelService
from parcelflow.domain.ids import PROMISE, QUIET_SINCE
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.times import instant
from parcelflow.domain.vocabulary import ExceptionCode, ServiceLevel, Status
from parcelflow.projections.exception_queue import RESOLVED
from parcelflow.projections.registry import runner

# Has the parcel this exception, open or raised for this occurrence? Parameters: the
# code, RESOLVED, and the occurrence key's prefix (domain/ids.py), which the stored UTC
# time in `column` completes exactly as the domain builds the key.
_ALREADY = ("NOT EXISTS (SELECT 1 FROM exception_queue q WHERE q.tracking_no = t.tracking_no "
            "AND q.code = ? AND (q.status <> ? OR q.occurrence = ? || t.{column}))")


class Watchlist:
    """The detectors' queries over the tracking view and the exception queue (their
    indexes live with the tracking view's schema)."""

    def __init__(self, service: ParcelService):
        self.service = service
        self.policy = service.policy
        self.runners = [runner(service, "tracking"), runner(service, "exceptions")]
        self.view = self.runners[0].projection.view

    def catch_up(self) -> None:
        """The views must show every event before a pass reads them."""
        for r in self.runners:
            r.run()

    def saved(self, parcels: Sequence[Parcel]) -> None:
        """Parcels the detectors just changed and saved: the views' next catch-up renders
        them without loading and replaying each one (`Replica.offer`). Both views' replicas
        hold the same objects: the runners run one after the other in this thread, and a
        replica that finds a parcel moved past the batch it reads loads that one as of the
        batch instead (`Replica.apply`)."""
        for r in self.runners:
            r.projection.replica.offer(parcels)

    def close(self) -> None:
        for r in self.runners:
            r.close()

    def _select(self, sql: str, params: list[object]) -> list[str]:
        return [r["tracking_no"] for r in self.view.query(sql, params)]

    def quiet(self, now: datetime) -> dict[ExceptionCode, list[str]]:
        p = self.policy
        found: dict[ExceptionCode, list[str]] = defaultdict(list)
        for status in sorted(p.stall_statuses):
            limits = [(str(level), p.stall_limit(level, status)) for level in ServiceLevel]
            widest = min([limit for _, limit in limits] + [p.stall_limit(None, status)])
            case = " ".join("WHEN ? THEN ?" for _ in limits)
            params: list[object] = [str(status), instant(now - widest)]
            for level, limit in limits:
                params += [level, instant(now - limit)]
            params += [instant(now - p.stall_limit(None, status)), str(ExceptionCode.STALLED),
                       RESOLVED, QUIET_SINCE]
            found[ExceptionCode.STALLED] += self._select(
                "SELECT t.tracking_no FROM tracking_view t WHERE t.status = ? "
                "AND t.last_scan_at <= ? "
                f"AND t.last_scan_at <= CASE t.service_level {case} ELSE ? END "
                f"AND {_ALREADY.format(column='last_scan_at')}", params)
        for code, statuses, limit in (
                (ExceptionCode.LOST, p.lost_statuses, p.complete_delay),
                (ExceptionCode.PICKUP_MISSED, frozenset({Status.AWAITING_PICKUP}), p.pickup_hold)):
            for status in sorted(statuses):  # one index range per status
                found[code] += self._select(
                    "SELECT t.tracking_no FROM tracking_view t WHERE t.status = ? "
                    f"AND t.last_scan_at <= ? AND {_ALREADY.format(column='last_scan_at')}",
                    [str(status), instant(now - limit), str(code), RESOLVED, QUIET_SINCE])
        return found

    def late(self, now: datetime) -> dict[str, list[str]]:
        """Parcels past their promised time (or whose ETA slipped past it) without a
        `delayed` exception for that promise; and late ones whose ETA is gone too."""
        statuses = sorted(str(s) for s in self.policy.delay_statuses)
        marks = ", ".join("?" * len(statuses))
        not_raised = _ALREADY.format(column="promised_by")
        # Two queries, one per index: past the promise, and ETA slipped past it.
        delayed = self._select(
            f"SELECT t.tracking_no FROM tracking_view t WHERE t.status IN ({marks}) "
            f"AND t.promised_by < ? AND {not_raised} UNION "
            f"SELECT t.tracking_no FROM tracking_view t WHERE t.status IN ({marks}) "
            f"AND t.eta > t.promised_by AND {not_raised}",
            [*statuses, instant(now), str(ExceptionCode.DELAYED), RESOLVED, PROMISE,
             *statuses, str(ExceptionCode.DELAYED), RESOLVED, PROMISE])
        eta_gone = self._select(
            f"SELECT t.tracking_no FROM tracking_view t WHERE t.status IN ({marks}) "
            "AND t.promised_by < ? AND (t.eta IS NULL OR t.eta <= ?)",
            [*statuses, instant(now), instant(now)])
        return {str(ExceptionCode.DELAYED): delayed, "eta": eta_gone}

    def overdue(self, now: datetime) -> list[str]:
        """Parcels with an open exception whose SLA clock ran out unrecorded."""
        at = instant(now)
        return self._select(
            "SELECT DISTINCT tracking_no FROM exception_queue WHERE status <> ? AND ("
            "(first_response_due IS NOT NULL AND acknowledged_at IS NULL "
            "AND first_response_due < ? AND first_response_breached_at IS NULL) "
            "OR (resolution_due < ? AND resolution_breached_at IS NULL))", [RESOLVED, at, at])

    def flagged(self, now: datetime) -> dict[str, set[str]]:
        """Every candidate parcel, with why it was picked."""
        out: dict[str, set[str]] = defaultdict(set)
        groups: dict[str, list[str]] = {str(c): v for c, v in self.quiet(now).items()}
        groups.update(self.late(now))
        groups["sla"] = self.overdue(now)
        for why, numbers in groups.items():
            for n in numbers:
                out[n].add(why)
        return dict(out)


__all__ = ["Watchlist"]
