"""Service KPIs per day, week or month, for the whole centre, per team and per agent.
One service for `parcelflow report`, `GET /v1/reports` and the console's statistics.

Read from the read models (the exception queue, the cases' complaints, follow-ups and
ratings, the tracking view), so a report costs a few queries, never a replay:

- first-contact resolution: resolved customer-facing exceptions (complaints included)
  closed by whoever took them first: never handed over, escalated or reopened;
- follow-up completion: follow-ups due in the period that are done with the customer
  reached (reached, satisfied, not_satisfied), over all due in the period;
- CSAT: ratings of 4 or 5 over all ratings given in the period;
- complaints per 10,000 parcels delivered in the period; repeat complaints: complaints
  filed in the period on a parcel that already had one;
- average handling time: acknowledgement to resolution, of those resolved in the period;
- SLA hit rate: resolutions in the period within their due time, on the clock policy
  gives them (business time where it says so).

An exception counts for the team that had to act on it and the agent who resolved it; a
complaint (and a repeat complaint) for the team its case is with and the agent who has it
(took it, or else resolved it) — the rate per 10,000 parcels is the centre's alone, as only
the centre delivers parcels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from parcelflow.application.service import ParcelService
from parcelflow.domain.times import instant

REACHED = frozenset({"reached", "satisfied", "not_satisfied"})


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_bounds(period: Period, day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The period containing `day`, as instants in `zone` (weeks start on Monday)."""
    if period == Period.DAY:
        start, end = day, day + timedelta(days=1)
    elif period == Period.WEEK:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return (datetime.combine(start, time(), tzinfo=zone),
            datetime.combine(end, time(), tzinfo=zone))


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _agent(row: dict[str, Any]) -> str | None:
    """Who has an exception: the one who took it, else the one who resolved it (not the
    system, which clears exceptions by a scan)."""
    if row["assignee"]:
        return str(row["assignee"])
    return row["resolved_by"] if row["resolved_by"] not in (None, "system") else None


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


@dataclass
class _Tally:
    resolved: int = 0
    first_contact: int = 0
    sla_known: int = 0
    sla_met: int = 0
    handling: timedelta = timedelta()
    handled: int = 0
    follow_ups_due: int = 0
    follow_ups_done: int = 0
    ratings: int = 0
    satisfied: int = 0
    complaints: int = 0
    repeat_complaints: int = 0

    def figures(self, delivered: int | None) -> dict[str, Any]:
        out = {
            "resolved": self.resolved,
            "first_contact_resolution": _rate(self.first_contact, self.resolved),
            "sla_hit_rate": _rate(self.sla_met, self.sla_known),
            "average_handling_minutes": round(self.handling.total_seconds() / 60 / self.handled, 1)
            if self.handled else None,
            "follow_ups_due": self.follow_ups_due,
            "follow_up_completion": _rate(self.follow_ups_done, self.follow_ups_due),
            "ratings": self.ratings,
            "csat": _rate(self.satisfied, self.ratings),
            "complaints": self.complaints,
            "repeat_complaints": self.repeat_complaints,
        }
        if delivered is not None:  # only the centre as a whole delivers parcels
            out["parcels_delivered"] = delivered
            out["complaints_per_10k_parcels"] = round(self.complaints * 10_000 / delivered, 2) \
                if delivered else None
        return out


@dataclass
class Reports:
    service: ParcelService
    exceptions: Any  # the exception queue's store
    cases: Any  # the cases store
    tracking: Any  # the tracking view's store

    def report(self, period: Period, day: date) -> dict[str, Any]:
        start, end = period_bounds(period, day, self.service.network.zone)

        def inside(text: str | None) -> bool:
            moment = _at(text)
            return moment is not None and start <= moment < end

        centre: _Tally = _Tally()
        teams: dict[str, _Tally] = defaultdict(_Tally)
        agents: dict[str, _Tally] = defaultdict(_Tally)

        def tallies(team: str | None, agent: str | None) -> Iterable[_Tally]:
            yield centre
            if team:
                yield teams[team]
            if agent:
                yield agents[agent]

        holders: dict[str, tuple[str | None, str | None]] = {}  # exception -> team, agent
        for row in self.exceptions.all():
            if row["code"] == "complaint":
                holders[row["exception_id"]] = (row["team"], _agent(row))
            if not (row["customer_facing"] or row["code"] == "complaint"):
                continue
            if row["status"] != "resolved" or not inside(row["resolved_at"]):
                continue
            if row["resolved_by"] == "system" and row["acknowledged_at"] is None:
                continue  # cleared by a scan: nobody handled it
            first = not (row["handovers"] or row["escalation_level"] or row["reopen_count"])
            acknowledged, resolved = _at(row["acknowledged_at"]), _at(row["resolved_at"])
            for t in tallies(row["team"], row["resolved_by"]):
                t.resolved += 1
                t.first_contact += first
                if row["resolution_met"] is not None:
                    t.sla_known += 1
                    t.sla_met += row["resolution_met"]
                if acknowledged and resolved:
                    t.handled += 1
                    t.handling += resolved - acknowledged
        for row in self.cases.follow_ups(every=True, limit=1_000_000):
            if inside(row["due"]):
                for t in tallies(None, row["assignee"]):
                    t.follow_ups_due += 1
                    t.follow_ups_done += row["status"] == "done" and row["outcome"] in REACHED
        for row in self.cases.query("SELECT * FROM ratings"):
            if inside(row["rated_at"]):
                for t in tallies(row["team"], row["agent"]):
                    t.ratings += 1
                    t.satisfied += row["rating"] >= 4
        complaints = self.cases.complaints(limit=1_000_000)
        earlier: set[str] = set()
        for row in sorted(complaints, key=lambda r: r["filed_at"]):
            if inside(row["filed_at"]):
                for t in tallies(*holders.get(row["exception_id"], (None, None))):
                    t.complaints += 1
                    t.repeat_complaints += row["tracking_no"] in earlier
            earlier.add(row["tracking_no"])
        delivered = int(self.tracking.query(
            "SELECT COUNT(*) AS n FROM tracking_view WHERE delivered_at >= ? AND delivered_at < ?",
            [instant(start), instant(end)])[0]["n"])
        return {
            "period": str(period), "from": start.isoformat(), "to": end.isoformat(),
            "centre": centre.figures(delivered),
            "teams": {name: t.figures(None) for name, t in sorted(teams.items())},
            "agents": {name: t.figures(None) for name, t in sorted(agents.items())},
        }


    def daily(self, period: Period, day: date, *, upto: date | None = None
              ) -> list[tuple[date, dict[str, Any]]]:
        """Each day of the period containing `day` (up to `upto`, say today), with the
        centre's figures for that day: the series a chart draws."""
        start, end = period_bounds(period, day, self.service.network.zone)
        last = (end - timedelta(days=1)).date()
        if upto is not None:
            last = min(last, upto)
        days = [start.date() + timedelta(days=k) for k in range((last - start.date()).days + 1)]
        return [(d, self.report(Period.DAY, d)["centre"]) for d in days]


def as_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scope (the centre, each team, each agent), for CSV."""
    rows = [{"scope": "centre", "name": "", **report["centre"]}]
    for scope in ("teams", "agents"):
        rows += [{"scope": scope[:-1], "name": name, **figures}
                 for name, figures in report[scope].items()]
    return rows
