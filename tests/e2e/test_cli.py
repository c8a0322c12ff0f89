"""The `parcelflow` command as a user runs it: a real process, real files, a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from parcelflow.domain.ids import parcel_id
from tests.support.builders import journey, manifest, recent_start, scan, tracking
from tests.support.tamper import tamper

PARCELFLOW = [sys.executable, "-m", "parcelflow"]


def run(args: list[str], db: str, cwd: Path, stdin: str | None = None,
        columns: int | None = None) -> subprocess.CompletedProcess:
    """The CLI as a user runs it; `columns`: as if on a terminal that wide."""
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": db, "PARCELFLOW_LOG_FORMAT": "json",
           **({"COLUMNS": str(columns)} if columns else {})}
    return subprocess.run([*PARCELFLOW, *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                            + "\n" for r in rows), encoding="utf-8")
    return path


def test_register_ingest_history_and_verify(tmp_path, database_url):
    manifests = write_lines(tmp_path / "m.jsonl", [manifest(1), manifest(2), {"bad": 1}])
    done = run(["register", str(manifests), "--json"], database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] == 2 and summary["duplicates"] == 0
    assert summary["rejected"][0]["line"] == 3

    scans = journey(1, t0=recent_start())[:6]
    lines = [scans[0], scans[1], "{not json", {**scans[2], "colour": "red"}, *scans[2:], scans[0]]
    done = run(["ingest", str(write_lines(tmp_path / "s.jsonl", lines)), "--json"],
               database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] == 6 and summary["duplicates"] == 1
    assert [(r["line"], r["scan_id"]) for r in summary["rejected"]] == [
        (3, None), (4, scans[2]["scan_id"])]
    assert "not valid JSON" in summary["rejected"][0]["reason"]

    again = run(["ingest", "-", "--json", "--strict"], database_url, tmp_path,
                stdin="".join(json.dumps(s) + "\n" for s in scans))
    assert json.loads(again.stdout) == {"accepted": 0, "duplicates": 6, "rejected": []}
    assert again.returncode == 0

    shown = run(["history", tracking(1), "--json"], database_url, tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["status"] == "at_facility" and data["location"] == "SHA-HUB-02"
    assert [e["type"] for e in data["events"]][:2] == ["registered", "scan_recorded"]
    assert "13987654321" not in shown.stdout and "139******21" in shown.stdout

    assert run(["verify", tracking(1)], database_url, tmp_path).returncode == 0
    tamper(database_url, parcel_id(tracking(1)), 3, "SZX-OUT-07", "SZX-OUT-08")
    broken = run(["verify", tracking(1)], database_url, tmp_path)
    assert broken.returncode == 1
    assert f"BROKEN {tracking(1)} event 3 (ScanRecorded)" in broken.stdout
    everything = run(["verify", "--all"], database_url, tmp_path)
    assert everything.returncode == 1 and "2 parcels" in everything.stdout


def test_history_as_of_and_erase(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    run(["register", str(write_lines(tmp_path / "m.jsonl", [manifest()]))], db, tmp_path)
    run(["ingest", str(write_lines(tmp_path / "s.jsonl", journey(t0=recent_start())[:3]))],
        db, tmp_path)
    first = json.loads(run(["history", tracking(), "--json"], db, tmp_path).stdout)
    registered_at = first["events"][0]["recorded_at"]
    early = json.loads(run(["history", tracking(), "--json", "--recorded-by", registered_at],
                           db, tmp_path).stdout)
    assert early["status"] == "registered" and len(early["events"]) == 1
    naive = run(["history", tracking(), "--as-of", "2026-11-22T10:00:00"], db, tmp_path)
    assert naive.returncode == 2 and "timezone offset" in naive.stderr

    erased = run(["erase", tracking(), "--by", "dpo-1", "--yes"], db, tmp_path)
    assert erased.returncode == 0 and "erased" in erased.stdout
    after = run(["history", tracking(), "--json", "--reveal"], db, tmp_path)
    assert "[erased]" in after.stdout and "13987654321" not in after.stdout
    assert run(["verify", tracking()], db, tmp_path).returncode == 0
    missing = run(["history", tracking(9)], db, tmp_path)
    assert missing.returncode == 1 and "no parcel" in missing.stderr


def test_simulate_writes_files_the_other_commands_accept(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    done = run(["simulate", "--parcels", "150", "--out", "sim"], db, tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("manifests.jsonl", "scans.jsonl", "manifests-late.jsonl"):
        assert (tmp_path / "sim" / name).exists()
    registered = json.loads(run(["register", "sim/manifests.jsonl", "--json"], db, tmp_path).stdout)
    ingested = json.loads(run(["ingest", "sim/scans.jsonl", "--json"], db, tmp_path).stdout)
    assert registered["accepted"] > 140 and not registered["rejected"]
    assert ingested["accepted"] > 500 and ingested["duplicates"] > 0


@pytest.mark.slow
def test_demo_tells_what_happened_on_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELFLOW_")}
    done = subprocess.run([*PARCELFLOW, "demo", "--parcels", "400", "--seed", "1"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "parcelflow.db").exists()  # no configuration: a SQLite file here
    for heading in ("A simulated network day", "Where the parcels are", "Exceptions caught",
                    "delivered", "parcelflow history PF"):
        assert heading in done.stdout
    number = done.stdout.split("parcelflow history ")[1].split()[0]
    shown = subprocess.run([*PARCELFLOW, "history", number, "--json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert json.loads(shown.stdout)["tracking_no"] == number
    assert f"http://127.0.0.1:8000/track/{number}" in done.stdout
    # The read models are up to date: `serve` shows the parcel on its tracking page.
    lag = subprocess.run([*PARCELFLOW, "lag", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert lag.returncode == 0, lag.stderr
    assert all(row["behind"] == 0 for row in json.loads(lag.stdout)), lag.stdout


def test_no_personal_data_in_any_log_line(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    people = manifest()
    bad = manifest(2, receiver={**people["receiver"], "phone": "139-0000-1111"})
    files = {
        "m.jsonl": [people, bad, manifest(3)],
        "s.jsonl": journey(t0=recent_start())[:4],
    }
    for name, rows in files.items():
        write_lines(tmp_path / name, rows)
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": db, "PARCELFLOW_LOG_FORMAT": "json",
           "PARCELFLOW_LOG_LEVEL": "DEBUG"}
    logs = ""
    for args in (["register", "m.jsonl"], ["ingest", "s.jsonl"], ["history", tracking()],
                 ["verify", "--all"], ["erase", tracking(), "--by", "dpo", "--yes"]):
        done = subprocess.run([*PARCELFLOW, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        logs += done.stderr
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert "parcels.registered" in {line.get("event") for line in lines}  # logging did happen
    for secret in ("13987654321", "13812345678", "139-0000-1111", "李华", "王小明",
                   "世纪大道", "科技园路", "li.hua@example.com"):
        assert secret not in logs


def test_ingest_then_track_shows_the_new_scan_and_the_other_views_answer(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    t0 = recent_start()
    run(["register", str(write_lines(tmp_path / "m.jsonl", [manifest(1), manifest(2)]))],
        db, tmp_path)
    scans = journey(1, t0=t0)
    run(["ingest", str(write_lines(tmp_path / "a.jsonl", scans[:3]))], db, tmp_path)
    first = json.loads(run(["track", tracking(1), "--json"], db, tmp_path).stdout)
    assert first["status"] == "at_facility" and len([t for t in first["timeline"]
                                                     if t["facility"]]) == 3
    damaged = {**scans[3], "type": "exception", "exception_code": "damaged"}
    damaged.pop("next_facility")
    run(["ingest", str(write_lines(tmp_path / "b.jsonl", [damaged, scans[4]]))], db, tmp_path)
    shown = run(["track", tracking(1), "--json"], db, tmp_path)
    row = json.loads(shown.stdout)
    assert row["status"] == "in_transit" and row["flags"] == ["damaged"]
    # The new scans in their places: the reported damage, then the departure, last.
    assert [(t["type"], t["facility"], t["occurred_at"]) for t in row["timeline"]
            if t["facility"]][-2:] == [
        ("exception", "SZX-HUB-01", damaged["occurred_at"]),
        ("departure", "SZX-HUB-01", scans[4]["occurred_at"])]
    assert "13987654321" not in shown.stdout

    queue = json.loads(run(["exceptions", "--json"], db, tmp_path).stdout)
    assert [(r["tracking_no"], r["code"]) for r in queue] == [(tracking(1), "damaged")]
    def stats_on(day: str) -> dict:
        return json.loads(run(["stats", "--day", day, "--json"], db, tmp_path).stdout)

    # Visits count on the day they began, exceptions on the day the problem was reported
    # (started after 21:30 in Shenzhen, these are two days).
    # The first three scans began two visits: on t0's day, and the hub's two hours later,
    # which is the next day when t0 is after 22:00 in Shenzhen.
    visit_days = sorted({scans[0]["occurred_at"][:10], scans[2]["occurred_at"][:10]})
    assert sum(stats_on(day)["network"]["scans"] for day in visit_days) >= 3
    assert stats_on(damaged["occurred_at"][:10])["network"]["exceptions"] == {"damaged": 1}
    lag = json.loads(run(["lag", "--json"], db, tmp_path).stdout)
    assert {row["projection"] for row in lag} == {"tracking", "exceptions", "stats", "cases"}
    rebuilt = run(["rebuild", "tracking"], db, tmp_path)
    assert rebuilt.returncode == 0 and "events/s" in rebuilt.stdout
    assert json.loads(run(["track", tracking(1), "--json"], db, tmp_path).stdout) == row
    missing = run(["track", tracking(7)], db, tmp_path)
    assert missing.returncode == 1 and "no parcel" in missing.stderr
    bad_day = run(["stats", "--day", "22-11-2026"], db, tmp_path)
    assert bad_day.returncode == 2


def test_track_json_is_the_document_the_api_returns_for_the_same_parcel(
        tmp_path, postgres_url, make_service):
    from tests.support.api import make_api

    t0 = recent_start()
    run(["register", str(write_lines(tmp_path / "m.jsonl", [manifest(1), manifest(2)]))],
        postgres_url, tmp_path)
    scans = journey(1, t0=t0) + journey(2, t0=t0)[:5]  # one delivered, one on its way
    assert run(["ingest", str(write_lines(tmp_path / "s.jsonl", scans))],
               postgres_url, tmp_path).returncode == 0
    shown = {n: json.loads(run(["track", tracking(n), "--json"], postgres_url, tmp_path).stdout)
             for n in (1, 2)}
    assert shown[1]["delivered"]["signed_by"] and shown[1]["location"]["city"] == "Shanghai"
    assert shown[2]["delivered"] is None and shown[2]["next_expected"] == {
        "activity": "arrival", "facility": "SHA-HUB-02"}
    assert "facility" not in shown[1] and "delivered_at" not in shown[1]  # no flat row
    for api in make_api(make_service(postgres_url), postgres_url):
        for n in (1, 2):
            answer = api.client.get(f"/v1/parcels/{tracking(n)}", params={"phone_last4": "4321"})
            assert answer.status_code == 200, answer.text
            assert shown[n] == answer.json()


def test_a_scan_at_an_unknown_facility_is_shown_on_the_parcel_and_in_the_statistics(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    t0 = recent_start()
    stray = scan("arrival", "ZZZ-HUB-99", 2.2, 1, t0=t0)
    write_lines(tmp_path / "m.jsonl", [manifest(1)])
    write_lines(tmp_path / "s.jsonl", [*journey(1, t0=t0)[:3], stray])
    assert run(["register", "m.jsonl"], db, tmp_path).returncode == 0
    ingested = run(["ingest", "s.jsonl", "--json"], db, tmp_path)
    assert json.loads(ingested.stdout)["accepted"] == 4  # kept, as every scan is
    tracked = run(["track", tracking(1)], db, tmp_path, columns=120)
    assert "data quality: scanned at ZZZ-HUB-99, which is not in the network registry" in \
        tracked.stdout
    # A facility the registry does not know has no time zone of its own: its scans count
    # on their UTC day (Network.zone_at), which after 22:00 in Shanghai is the day before.
    day = datetime.fromisoformat(stray["occurred_at"]).astimezone(timezone.utc).date()
    day = day.isoformat()
    stats = run(["stats", "--day", day], db, tmp_path, columns=120)
    assert stats.returncode == 0, stats.stderr
    assert "data quality: 1 scans at facilities not in the network registry (kept): " \
        "ZZZ-HUB-99 1" in " ".join(stats.stdout.split())
    report = json.loads(run(["stats", "--day", day, "--json"], db, tmp_path).stdout)
    assert report["network"]["unknown_facility_scans"] == 1
