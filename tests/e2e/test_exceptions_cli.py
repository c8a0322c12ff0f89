"""Exception management as staff run it: detect, work the queue, complaints, claims."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

from tests.e2e.test_cli import PARCELFLOW, run, write_lines
from tests.support.builders import journey, manifest, recent_start, scan, tracking


def ok(args, db, cwd):
    done = run(args, db, cwd)
    assert done.returncode == 0, done.stderr
    return done


def test_detect_then_work_an_exception_a_complaint_and_a_claim(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    now = datetime.now(timezone.utc)
    t0 = recent_start()  # two days ago: the last scans below are ~45 h old
    far = (now + timedelta(days=10)).isoformat()
    past = (now - timedelta(hours=1)).isoformat()
    write_lines(tmp_path / "m.jsonl", [manifest(1, service_level="express", promised_by=far),
                                       manifest(2, promised_by=past)])
    write_lines(tmp_path / "s.jsonl", journey(1, t0=t0)[:5] + journey(2, t0=t0)[:5])
    ok(["register", "m.jsonl"], db, tmp_path)
    ok(["ingest", "s.jsonl"], db, tmp_path)

    first = json.loads(ok(["detect", "--json"], db, tmp_path).stdout)
    assert first["raised"] == {"delayed": 1, "stalled": 1}  # express: 24 h; standard: late
    assert first["eta_revised"] == 1
    assert json.loads(ok(["detect", "--json"], db, tmp_path).stdout)["raised"] == {}
    queue = json.loads(ok(["exceptions", "--json"], db, tmp_path).stdout)
    assert {(r["tracking_no"], r["code"]) for r in queue} == {
        (tracking(1), "stalled"), (tracking(2), "delayed")}
    assert json.loads(ok(["exceptions", "--json", "--code", "stalled", "--team", "network_ops"],
                         db, tmp_path).stdout)[0]["tracking_no"] == tracking(1)

    acked = json.loads(ok(["exceptions", "acknowledge", tracking(2), "delayed", "--by", "cs-1",
                           "--json"], db, tmp_path).stdout)
    assert (acked["assignee"], acked["status"]) == ("cs-1", "acknowledged")
    stolen = run(["exceptions", "resolve", tracking(2), "delayed", "--by", "cs-9", "--outcome",
                  "no_fault"], db, tmp_path)
    assert stolen.returncode == 1 and "assigned to cs-1" in stolen.stderr
    handed = ok(["exceptions", "hand-over", tracking(2), "delayed", "--by", "cs-1", "--to",
                 "cs-2", "--team", "vip_desk"], db, tmp_path)
    assert "team vip_desk, assignee cs-2" in handed.stdout
    contact = ok(["exceptions", "contact", tracking(2), "delayed", "--by", "cs-2", "--channel",
                  "phone", "--summary", "called back on 13987654321"], db, tmp_path)
    filed = json.loads(ok(["complaints", "file", tracking(2), "--by", "cs-2", "--category",
                           "delay", "--channel", "phone", "--words", "等了好几天 13987654321",
                           "--json"], db, tmp_path).stdout)
    assert filed["links"] == [acked["exception_id"]] and filed["words"] == "[sealed]"
    listed = json.loads(ok(["complaints", "--json"], db, tmp_path).stdout)
    assert [c["complaint_id"] for c in listed] == [filed["complaint_id"]]
    ok(["exceptions", "resolve", tracking(2), acked["exception_id"][:8], "--by", "cs-2",
        "--outcome", "redelivered"], db, tmp_path)
    no_reason = run(["complaints", "close", tracking(2), filed["complaint_id"][:8], "--by",
                     "cs-2", "--outcome", "redelivered"], db, tmp_path)
    assert no_reason.returncode == 1 and "confirmation or a recorded reason" in no_reason.stderr
    ok(["complaints", "close", tracking(2), filed["complaint_id"][:8], "--by", "cs-2",
        "--outcome", "redelivered", "--confirmed"], db, tmp_path)
    shown = json.loads(ok(["exceptions", "show", tracking(2), acked["exception_id"], "--json"],
                          db, tmp_path).stdout)
    assert shown["status"] == "resolved" and shown["complaints"] == [filed["complaint_id"]]
    revealed = ok(["complaints", "show", tracking(2), filed["complaint_id"], "--reveal"],
                  db, tmp_path)
    assert "等了好几天" in revealed.stdout

    ok(["exceptions", "raise", tracking(1), "lost", "--by", "ops-7"], db, tmp_path)
    claim = json.loads(ok(["claims", "file", tracking(1), "--by", "cs-3", "--cause", "lost",
                           "--amount", "2000.00", "--evidence", "invoice-1.pdf", "--json"],
                          db, tmp_path).stdout)
    assessed = json.loads(ok(["claims", "assess", tracking(1), "lost", "--by", "adj-1",
                              "--json"], db, tmp_path).stdout)
    assert assessed["assessment"]["payable"] == "1200.00"  # insured: the declared value
    ok(["claims", "approve", tracking(1), "lost", "--by", "mgr-1"], db, tmp_path)
    ok(["claims", "pay", tracking(1), claim["claim_id"][:8], "--by", "fin-1", "--payment-ref",
        "PAY-77"], db, tmp_path)
    again = run(["claims", "approve", tracking(1), claim["claim_id"], "--by", "mgr-1"],
                db, tmp_path)
    assert again.returncode == 1 and "is paid" in again.stderr
    day = now.date()
    report = json.loads(ok(["claims", "report", "--from", str(day - timedelta(days=1)), "--to",
                            str(day + timedelta(days=2)), "--json"], db, tmp_path).stdout)
    assert report["claims"] == 1 and report["amounts"]["paid"] == "1200.00"
    assert report["by_cause"] == {"lost": {"claims": 1, "claimed": "2000.00", "paid": "1200.00"}}
    assert json.loads(ok(["claims", "--json", "--status", "paid"], db, tmp_path).stdout)[0][
        "payment_ref"] == "PAY-77"
    for output in (contact.stdout + contact.stderr, json.dumps(filed)):
        assert "13987654321" not in output


def test_detect_every_runs_passes_until_interrupted(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": db, "PARCELFLOW_LOG_FORMAT": "json"}
    proc = subprocess.Popen([*PARCELFLOW, "detect", "--every", "1", "--json"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]  # type: ignore[union-attr]
        assert all(json.loads(line)["candidates"] == 0 for line in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 15


def _printed_at(width: int, args, db, cwd) -> str:
    done = run(args, db, cwd, columns=width)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _cell(table: str, heading: str, tracking_no: str) -> str:
    """The word printed under `heading` on the row of `tracking_no` (cells start where
    their heading starts)."""
    lines = table.splitlines()
    header = next(line for line in lines if f" {heading} " in f" {line} ")
    row = next(line for line in lines if tracking_no in line)
    start = f" {header} ".index(f" {heading} ")
    return row[start:].split()[0].strip("│┃|")


def test_the_queue_by_team_and_assignee_under_their_own_headings(tmp_path):
    """A hand-over to a team leaves it with that team and no assignee until someone
    there takes it; the table prints each under its heading (they were swapped)."""
    db = f"sqlite:///{tmp_path}/p.db"
    write_lines(tmp_path / "m.jsonl", [manifest(1)])
    ok(["register", "m.jsonl"], db, tmp_path)
    ok(["exceptions", "raise", tracking(1), "damaged", "--by", "cs-1"], db, tmp_path)
    ok(["exceptions", "acknowledge", tracking(1), "damaged", "--by", "cs-1"], db, tmp_path)
    handed = ok(["exceptions", "hand-over", tracking(1), "damaged", "--by", "cs-1",
                 "--team", "claims_team"], db, tmp_path)
    assert "team claims_team, assignee —" in handed.stdout
    [row] = json.loads(ok(["exceptions", "--json", "--team", "claims_team"], db,
                          tmp_path).stdout)
    assert (row["team"], row["assignee"]) == ("claims_team", None) and "owner" not in row
    assert json.loads(ok(["exceptions", "--json", "--team", "hub"], db, tmp_path).stdout) == []

    ok(["exceptions", "acknowledge", tracking(1), "damaged", "--by", "cs-2"], db, tmp_path)
    table = _printed_at(160, ["exceptions", "--team", "claims_team", "--assignee", "cs-2"],
                        db, tmp_path)
    assert "1 open exceptions" in table
    assert (_cell(table, "team", tracking(1)), _cell(table, "assignee", tracking(1))) == (
        "claims_team", "cs-2")
    assert "--owner" not in ok(["exceptions", "--help"], db, tmp_path).stdout
    old = run(["exceptions", "--owner", "claims_team"], db, tmp_path)
    assert old.returncode == 2


def test_a_stall_leaves_the_queue_when_the_parcel_moves_again_unless_someone_has_it(tmp_path):
    """Found in the queue: an arrival scanned 30 minutes ago (uploaded after the detector
    had flagged the parcel) left the stall open. A detector's stall closes itself when
    the parcel moves again (`moving_again`); one a person has taken stays theirs, and
    says that the parcel moved."""
    db = f"sqlite:///{tmp_path}/p.db"
    now = datetime.now(timezone.utc)
    t0 = recent_start()  # the last scans below are ~45 h old: past express's 24 h
    far = (now + timedelta(days=10)).isoformat()
    write_lines(tmp_path / "m.jsonl", [manifest(n, service_level="express", promised_by=far)
                                       for n in (1, 2)])
    write_lines(tmp_path / "s.jsonl", journey(1, t0=t0)[:5] + journey(2, t0=t0)[:5])
    ok(["register", "m.jsonl"], db, tmp_path)
    ok(["ingest", "s.jsonl"], db, tmp_path)
    assert json.loads(ok(["detect", "--json"], db, tmp_path).stdout)["raised"] == {"stalled": 2}
    stalls = {r["tracking_no"]: r["exception_id"] for r in json.loads(
        ok(["exceptions", "--json", "--code", "stalled"], db, tmp_path).stdout)}
    assert set(stalls) == {tracking(1), tracking(2)}
    ok(["exceptions", "acknowledge", tracking(2), "stalled", "--by", "cs-1"], db, tmp_path)

    moved_at = datetime.now(timezone.utc) - timedelta(minutes=30)
    hours = (moved_at - t0).total_seconds() / 3600
    write_lines(tmp_path / "moved.jsonl", [scan("arrival", "SHA-HUB-02", hours, n, t0=t0)
                                           for n in (1, 2)])
    ok(["ingest", "moved.jsonl"], db, tmp_path)

    [left] = json.loads(ok(["exceptions", "--json", "--code", "stalled"], db, tmp_path).stdout)
    assert (left["tracking_no"], left["assignee"]) == (tracking(2), "cs-1")
    assert left["condition_ended"] == "moving again: scanned again at SHA-HUB-02"
    ended_at = datetime.fromisoformat(left["condition_ended_at"])
    assert abs(ended_at - moved_at) < timedelta(seconds=1)  # the scan's time, not the upload's
    closed = json.loads(ok(["exceptions", "show", tracking(1), stalls[tracking(1)], "--json"],
                           db, tmp_path).stdout)
    assert (closed["status"], closed["outcome"]) == ("resolved", "moving_again")
    shown = ok(["exceptions", "show", tracking(2), "stalled"], db, tmp_path).stdout
    assert "condition_ended: moving again: scanned again at SHA-HUB-02" in shown
