"""`parcelflow report`: the service centre's KPIs for a day, a week or a month."""

from __future__ import annotations

import csv
import sys
from datetime import date
from typing import Annotated, Optional

import typer
from rich.table import Table

from parcelflow.application.reports import Period, Reports, as_rows
from parcelflow.entrypoints.cli_support import JsonFlag, catch_up, fail, out, print_json, service

app = typer.Typer()


@app.command()
def report(
    period: Annotated[Period, typer.Option(help="day, week (Monday on) or month.")] = Period.DAY,
    day: Annotated[Optional[str], typer.Option(
        "--day", help="A date in the period, YYYY-MM-DD (default: today).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="One CSV line per scope.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Service KPIs for the centre, per team and per agent: first-contact resolution,
    follow-up completion, CSAT, complaints per 10,000 parcels, repeat complaints,
    average handling time, SLA hit rate."""
    svc = service()
    try:
        wanted = date.fromisoformat(day) if day else svc.clock().astimezone(svc.network.zone).date()
    except ValueError:
        fail("--day is not a date (YYYY-MM-DD)", 2)
    views = {name: catch_up(svc, name).projection.view
             for name in ("exceptions", "cases", "tracking")}
    figures = Reports(svc, views["exceptions"], views["cases"], views["tracking"]).report(
        period, wanted)
    if as_json:
        print_json(figures)
        return
    rows = as_rows(figures)
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    table = Table("scope", "name", "resolved", "FCR", "SLA", "AHT min", "follow-ups",
                  "CSAT", "complaints", "repeat", "per 10k",
                  title=f"Service {figures['period']} from {figures['from'][:10]}",
                  title_justify="left")
    for r in rows:
        table.add_row(r["scope"], r["name"], str(r["resolved"]),
                      pct(r["first_contact_resolution"]), pct(r["sla_hit_rate"]),
                      "—" if r["average_handling_minutes"] is None
                      else str(r["average_handling_minutes"]),
                      pct(r["follow_up_completion"]), pct(r["csat"]), str(r["complaints"]),
                      str(r["repeat_complaints"]),
                      str(r.get("complaints_per_10k_parcels") or "—"))
    out.print(table)
