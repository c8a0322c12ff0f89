"""Daily service statistics per facility: the figures a customer-service manager reports.

Scans, parcels handled, deliveries and on-time deliveries, exceptions by code, scan
compliance at hubs (arrival, sort and departure all present for every visit that has
left), first-response and resolution SLA hit rates, and the data-quality problems: scans
kept although their facility is not in the network registry.

Counters would go wrong: a late upload fills a missed scan the day after, an amended
scan moves to another facility. So the projection keeps per-parcel facts (its visits,
its delivery, its exceptions), replaces a parcel's facts whenever the parcel changes,
and sums the facts when the statistics are read.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from parcelflow.adapters.sql import in_chunks
from parcelflow.domain.network import Network
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import Policy
from parcelflow.domain.vocabulary import FacilityKind
from parcelflow.projections.base import ParcelProjection, ViewStore
from parcelflow.projections.exception_queue import facility_at, sla_met

VISIT = ("parcel_id", "day", "facility", "hub", "scans", "complete", "unknown")
DELIVERY = ("parcel_id", "day", "facility", "on_time")
EXCEPTION = ("exception_id", "parcel_id", "day", "facility", "code", "first_response_met",
             "resolution_met")


def local_day(moment: datetime, facility: str | None, network: Network) -> str:
    """The calendar day at the facility (its own time zone), as YYYY-MM-DD."""
    return moment.astimezone(network.zone_at(facility)).date().isoformat()


class DailyStatsStore(ViewStore):
    name = "stats"
    tables = ("stats_visits", "stats_deliveries", "stats_exceptions")
    create_statements = (
        "CREATE TABLE IF NOT EXISTS stats_visits (parcel_id TEXT NOT NULL, day TEXT NOT NULL, "
        "facility TEXT NOT NULL, hub INTEGER NOT NULL, scans INTEGER NOT NULL, "
        "complete INTEGER, unknown INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS stats_visits_parcel ON stats_visits (parcel_id)",
        "CREATE INDEX IF NOT EXISTS stats_visits_day ON stats_visits (day, facility)",
        "CREATE TABLE IF NOT EXISTS stats_deliveries (parcel_id TEXT PRIMARY KEY, "
        "day TEXT NOT NULL, facility TEXT NOT NULL, on_time INTEGER)",
        "CREATE INDEX IF NOT EXISTS stats_deliveries_day ON stats_deliveries (day, facility)",
        "CREATE TABLE IF NOT EXISTS stats_exceptions (exception_id TEXT PRIMARY KEY, "
        "parcel_id TEXT NOT NULL, day TEXT NOT NULL, facility TEXT NOT NULL, code TEXT NOT NULL, "
        "first_response_met INTEGER, resolution_met INTEGER)",
        "CREATE INDEX IF NOT EXISTS stats_exceptions_parcel ON stats_exceptions (parcel_id)",
        "CREATE INDEX IF NOT EXISTS stats_exceptions_day ON stats_exceptions (day, facility)",
    )

    def create_views(self) -> None:
        # Statistics kept before unknown facilities were counted (issue 16) are rebuilt.
        self.rebuild_if_older("stats_visits", set(VISIT))
        super().create_views()

    def write_facts(self, parcel_ids: list[str], facts: dict[str, list[dict[str, Any]]],
                    tracking: Tracking | None) -> None:
        with self.writing(tracking) as c:
            for table in self.tables:
                for marks, chunk in in_chunks(parcel_ids):
                    c.execute(self.sql(f"DELETE FROM {table} WHERE parcel_id IN ({marks})"),
                              chunk)
            for table, columns in (("stats_visits", VISIT), ("stats_deliveries", DELIVERY),
                                   ("stats_exceptions", EXCEPTION)):
                rows = facts[table]
                if rows:
                    c.executemany(
                        self.sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                 f"({', '.join('?' * len(columns))})"),
                        [[row[col] for col in columns] for row in rows])

    def report(self, day: str) -> dict[str, Any]:
        """Per facility, and for the whole network, on one day."""
        per: dict[str, dict[str, Any]] = defaultdict(_empty)
        for r in self.query(
                "SELECT facility, SUM(scans) AS scans, COUNT(DISTINCT parcel_id) AS parcels, "
                "SUM(CASE WHEN hub = 1 AND complete IS NOT NULL THEN 1 ELSE 0 END) AS visits, "
                "SUM(CASE WHEN complete = 1 THEN 1 ELSE 0 END) AS complete, "
                "SUM(CASE WHEN unknown = 1 THEN scans ELSE 0 END) AS unknown "
                "FROM stats_visits WHERE day = ? GROUP BY facility", [day]):
            row = per[r["facility"]]
            row.update(scans=int(r["scans"]), parcels=int(r["parcels"]),
                       hub_visits=int(r["visits"]), hub_visits_complete=int(r["complete"]),
                       unknown_facility_scans=int(r["unknown"]))
        for r in self.query(
                "SELECT facility, COUNT(*) AS n, SUM(CASE WHEN on_time = 1 THEN 1 ELSE 0 END) "
                "AS on_time, SUM(CASE WHEN on_time IS NOT NULL THEN 1 ELSE 0 END) AS promised "
                "FROM stats_deliveries WHERE day = ? GROUP BY facility", [day]):
            per[r["facility"]].update(deliveries=int(r["n"]), on_time=int(r["on_time"]),
                                      promised=int(r["promised"]))
        for r in self.query(
                "SELECT facility, code, COUNT(*) AS n, "
                "SUM(CASE WHEN first_response_met = 1 THEN 1 ELSE 0 END) AS fr_met, "
                "SUM(CASE WHEN first_response_met IS NOT NULL THEN 1 ELSE 0 END) AS fr_known, "
                "SUM(CASE WHEN resolution_met = 1 THEN 1 ELSE 0 END) AS res_met, "
                "SUM(CASE WHEN resolution_met IS NOT NULL THEN 1 ELSE 0 END) AS res_known "
                "FROM stats_exceptions WHERE day = ? GROUP BY facility, code", [day]):
            row = per[r["facility"]]
            row["exceptions"][r["code"]] = int(r["n"])
            for key in ("fr_met", "fr_known", "res_met", "res_known"):
                row[key] += int(r[key])
        facilities = {name: _finish(row) for name, row in sorted(per.items())}
        total = _empty()
        for row in per.values():
            for key, value in row.items():
                if key == "exceptions":
                    for code, n in value.items():
                        total["exceptions"][code] = total["exceptions"].get(code, 0) + n
                else:
                    total[key] += value
        # A parcel seen at two facilities is one parcel for the network.
        total["parcels"] = int(self.query(
            "SELECT COUNT(DISTINCT parcel_id) AS n FROM stats_visits WHERE day = ?", [day])[0]["n"])
        return {"day": day, "network": _finish(total), "facilities": facilities}


def _empty() -> dict[str, Any]:
    return {"scans": 0, "parcels": 0, "deliveries": 0, "on_time": 0, "promised": 0,
            "hub_visits": 0, "hub_visits_complete": 0, "exceptions": {}, "fr_met": 0,
            "fr_known": 0, "res_met": 0, "res_known": 0, "unknown_facility_scans": 0}


def _rate(hit: int, of: int) -> float | None:
    return round(hit / of, 4) if of else None


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "scans": row["scans"],
        "parcels": row["parcels"],
        "deliveries": row["deliveries"],
        "on_time_deliveries": row["on_time"],
        "on_time_rate": _rate(row["on_time"], row["promised"]),
        "exceptions": dict(sorted(row["exceptions"].items())),
        "hub_visits": row["hub_visits"],
        "scan_compliance": _rate(row["hub_visits_complete"], row["hub_visits"]),
        "first_response_sla": _rate(row["fr_met"], row["fr_known"]),
        "resolution_sla": _rate(row["res_met"], row["res_known"]),
        # A data-quality problem: scans kept at a facility the registry does not know.
        "unknown_facility_scans": row["unknown_facility_scans"],
    }


def facts(parcel: Parcel, network: Network, policy: Policy) -> dict[str, list[dict[str, Any]]]:
    state = parcel.state
    pid = str(parcel.id)
    visit_rows = []
    for visit in state.visits:
        first = visit.scans[0]
        hub = visit.kind == FacilityKind.HUB
        # A hub visit that has left is complete with every scan a hub visit should carry.
        complete = int(not visit.missing()) if hub and visit.left else None
        visit_rows.append({"parcel_id": pid, "facility": visit.facility, "hub": int(hub),
                           "day": local_day(first.occurred_at, visit.facility, network),
                           "scans": len(visit.scans), "complete": complete,
                           "unknown": int(visit.kind is None)})
    deliveries = []
    if state.delivered is not None:
        promised = parcel.promised_by
        deliveries.append({
            "parcel_id": pid, "facility": state.delivered.facility,
            "day": local_day(state.delivered.at, state.delivered.facility, network),
            "on_time": None if promised is None else int(state.delivered.at <= promised),
        })
    exceptions = []
    for record in parcel.exceptions.values():
        where = facility_at(state, record.occurred_at)
        first_met, resolution_met = sla_met(record, parcel.customer_tier, policy)
        exceptions.append({
            "exception_id": record.exception_id, "parcel_id": pid,
            "facility": where or "(none)",
            # Filed under the day the problem arose there; its SLA clocks still start
            # when it was raised.
            "day": local_day(record.occurred_at, where, network), "code": str(record.code),
            "first_response_met": first_met, "resolution_met": resolution_met,
        })
    return {"stats_visits": visit_rows, "stats_deliveries": deliveries,
            "stats_exceptions": exceptions}


class DailyStats(ParcelProjection):
    name = "stats"
    store = DailyStatsStore

    def prepare(self, events: Any) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
        touched = self.replica.apply(events)
        collected: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for parcel in touched.values():
            for table, rows in facts(parcel, self.service.network, self.service.policy).items():
                collected[table].extend(rows)
        return [str(pid) for pid in touched], collected

    def commit(self, prepared: tuple[list[str], dict[str, list[dict[str, Any]]]],
               tracking: Tracking) -> None:
        assert isinstance(self.view, DailyStatsStore)
        self.view.write_facts(*prepared, tracking)


def today_in(network: Network, now: datetime) -> str:
    return now.astimezone(network.zone).date().isoformat()


__all__ = ["DailyStats", "DailyStatsStore", "facts", "local_day", "today_in"]
