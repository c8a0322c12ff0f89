"""`parcelflow report`: the service centre's KPIs for a day, a week or a month."""

from __future__ import annotations

import csv
import sys
from datetime import date
from typing import Annotated, Optional

import typer
from parcelflow.application.reports import Period, Reports, as_rows
from parcelflow.entrypoints.cli_support import JsonFlag, catch_up, fail, out, print_json, service
from parcelflow.entrypoints.tables import Column, fitted, print_table

app = typer.Typer()

# Who a row is about is always whole; then the figures a supervisor looks at first.
REPORT_COLUMNS = (
    Column("scope", keep=True),
    Column("name", keep=True),
    Column("FCR", rank=1, justify="right"),
    Column("SLA", rank=2, justify="right"),
    Column("CSAT", rank=3, justify="right"),
    Column("resolved", rank=4, justify="right"),
    Column("follow-ups", rank=5, justify="right"),
    Column("complaints", rank=6, justify="right"),
    Column("per 10k", rank=7, justify="right"),
    Column("AHT min", rank=8, justify="right"),
    Column("repeat", rank=9, justify="right"),
)


@app.command()
def report(
    period: Annotated[Period, typer.Option(help="day, week (Monday on) or month.")] = Period.DAY,
    day: Annotated[Optional[str], typer.Option(
        "--day", help="A date in the period, YYYY-MM-DD (default: today).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="One CSV line per scope.")] = False,
    as_json: JsonFlag = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, whatever the width.")]
    = False,
) -> None:
    """Service KPIs for the centre, per team and per agent: first-contact resolution,
    follow-up completion, CSAT, complaints per 10,000 parcels, repeat complaints,
    average handling time, SLA hit rate. Scope and name are always shown whole; the
    figures as the terminal's width allows (--wide: all of them)."""
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

    def num(value: float | int | None) -> str:
        return "—" if value is None else str(value)

    cells = [(r["scope"], r["name"], pct(r["first_contact_resolution"]), pct(r["sla_hit_rate"]),
              pct(r["csat"]), str(r["resolved"]), pct(r["follow_up_completion"]),
              str(r["complaints"]), num(r.get("complaints_per_10k_parcels")),
              num(r["average_handling_minutes"]), str(r["repeat_complaints"])) for r in rows]
    print_table(out, fitted(REPORT_COLUMNS, cells, width=out.width, wide=wide,
                            title=f"Service {figures['period']} from {figures['from'][:10]}"))
