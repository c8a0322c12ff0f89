"""The queue and the statistics at the widths agents' terminals have (80 and 120
columns): tracking numbers were cut to `PF20261…` and times wrapped, as twelve columns
shared the width. What an agent works from is whole, on one line; the rest is left out
at narrow widths (and named), `--wide` shows everything."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_cli import run, write_lines
from tests.support.builders import journey, manifest, recent_start, tracking

MINUTE = r"\d{4}-\d\d-\d\d \d\d:\d\d"


def at_width(width: int, args: list[str], db: str, cwd) -> str:
    done = run(args, db, cwd, columns=width)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The store the tests read, made once by the CLI as an agent's day makes it (six CLI
    runs); each test works on its own copy."""
    where = tmp_path_factory.mktemp("widths")
    url = f"sqlite:///{where}/p.db"
    t0 = recent_start()
    write_lines(where / "m.jsonl", [manifest(n) for n in (1, 2, 3)])
    write_lines(where / "s.jsonl", [s for n in (1, 2, 3) for s in journey(n, t0=t0)[:6]])
    at_width(120, ["register", "m.jsonl"], url, where)
    at_width(120, ["ingest", "s.jsonl"], url, where)
    for n, code in ((1, "customs_documents"), (2, "held_for_payment"), (3, "damaged")):
        at_width(120, ["exceptions", "raise", tracking(n), code, "--by", "cs-1"], url, where)
    at_width(120, ["exceptions", "acknowledge", tracking(1), "customs_documents", "--by",
                   "staff:emp-supervisor"], url, where)
    return where


@pytest.fixture
def db(built, tmp_path) -> str:
    for path in built.iterdir():  # the database file (and any journal beside it)
        shutil.copy2(path, tmp_path / path.name)
    return f"sqlite:///{tmp_path}/p.db"


@pytest.mark.parametrize("width", [80, 120])
def test_the_queue_shows_tracking_number_code_due_time_and_assignee_whole(db, tmp_path,
                                                                          width):
    printed = at_width(width, ["exceptions"], db, tmp_path)
    assert "…" not in printed
    for n, code in ((1, "customs_documents"), (2, "held_for_payment"), (3, "damaged")):
        [line] = [line for line in printed.splitlines() if tracking(n) in line]
        assert code in line and re.search(MINUTE, line), line  # due time on the same line
    [taken] = [line for line in printed.splitlines() if tracking(1) in line]
    assert "staff:emp-supervisor" in taken
    rows = [line for line in printed.splitlines() if line.startswith("│")]
    assert len(rows) == 3  # one line per exception: nothing wrapped
    assert "--wide" in printed  # what was left out is named


def test_the_narrow_queue_fits_80_columns_when_its_identifiers_do(db, tmp_path):
    printed = at_width(80, ["exceptions", "--assignee", "cs-9"], db, tmp_path)
    assert all(len(line) <= 80 for line in printed.splitlines())
    at_width(80, ["exceptions", "acknowledge", tracking(2), "held_for_payment", "--by", "cs-2"],
             db, tmp_path)
    printed = at_width(80, ["exceptions", "--assignee", "cs-2"], db, tmp_path)
    assert tracking(2) in printed
    assert all(len(line) <= 80 for line in printed.splitlines())


def test_wide_shows_every_column(db, tmp_path):
    printed = at_width(80, ["exceptions", "--wide"], db, tmp_path)
    header = next(line for line in printed.splitlines() if "parcel" in line)
    for heading in ("exception", "severity", "team", "assignee", "tier", "status", "raised",
                    "due", "esc", "breached"):
        assert heading in header
    assert "…" not in printed and "--wide shows" not in printed


@pytest.mark.parametrize("width", [80, 120])
def test_the_statistics_show_every_facility_whole(db, tmp_path, width):
    day = recent_start().date().isoformat()  # the day the first scans were made (CST)
    printed = at_width(width, ["stats", "--day", day], db, tmp_path)
    assert "…" not in printed
    for facility in ("SZX-OUT-07", "NETWORK"):  # picked up at the start of that day
        assert re.search(rf"│ {facility} +│", printed), facility
    assert all(len(line) <= width for line in printed.splitlines())
    wide = at_width(80, ["stats", "--day", day, "--wide"], db, tmp_path)
    assert "resolution SLA" in wide and "compliance" in wide


@pytest.mark.parametrize("width", [80, 120])
def test_the_follow_ups_show_tracking_number_id_assignee_and_due_time_whole(db, tmp_path,
                                                                           width):
    """Issue 14's follow-up list, on the same footing as the queue."""
    at_width(120, ["exceptions", "acknowledge", tracking(3), "damaged", "--by", "cs-3"],
             db, tmp_path)
    at_width(120, ["exceptions", "resolve", tracking(3), "damaged", "--by", "cs-3",
                   "--outcome", "redelivered"], db, tmp_path)
    printed = at_width(width, ["followups"], db, tmp_path)
    assert "…" not in printed
    [line] = [line for line in printed.splitlines() if tracking(3) in line]
    assert "cs-3" in line and re.search(MINUTE, line), line  # assignee and due, one line
    assert re.search(r"│ [0-9a-f]{8} +│", line), line  # the follow-up id people copy
    if width == 80:
        assert "--wide" in printed and all(len(x) <= 80 for x in printed.splitlines())
    wide = at_width(80, ["followups", "--wide"], db, tmp_path)
    header = next(x for x in wide.splitlines() if "parcel" in x)
    for heading in ("about", "level", "since", "status", "attempts", "outcome"):
        assert heading in header


@pytest.mark.parametrize("width", [80, 120])
def test_the_report_shows_each_scope_and_name_whole(db, tmp_path, width):
    """`parcelflow report` on the same footing: who a row is about is whole, on one line;
    the figures as the width allows, and those left out are named."""
    for n, code, who in ((1, "customs_documents", "staff:emp-supervisor"),
                         (3, "damaged", "cs-3")):
        if n == 3:
            at_width(120, ["exceptions", "acknowledge", tracking(n), code, "--by", who],
                     db, tmp_path)
        at_width(120, ["exceptions", "resolve", tracking(n), code, "--by", who,
                       "--outcome", "redelivered"], db, tmp_path)
    printed = at_width(width, ["report", "--period", "week"], db, tmp_path)
    assert "…" not in printed
    assert all(len(line) <= width for line in printed.splitlines())
    for scope, name in (("agent", "staff:emp-supervisor"), ("agent", "cs-3")):
        assert re.search(rf"│ {scope} +│ {re.escape(name)} +│", printed), (name, printed)
    header = next(x for x in printed.splitlines() if "scope" in x)
    assert "FCR" in header and "SLA" in header
    if width == 80:
        assert "not shown at this width" in printed and "--wide" in printed
        assert "repeat" not in header  # the last by priority gives way first
    wide = at_width(80, ["report", "--period", "week", "--wide"], db, tmp_path)
    header = next(x for x in wide.splitlines() if "scope" in x)
    for heading in ("FCR", "SLA", "CSAT", "resolved", "follow-ups", "complaints", "per 10k",
                    "AHT min", "repeat"):
        assert heading in header
    assert "--wide shows" not in wide
