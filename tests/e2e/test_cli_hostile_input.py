"""The `parcelflow` command fed what hostile or broken producers send: every bad line is
rejected with its number and a reason, the rest is stored, and options are refused by the
same rules as the wire."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.builders import journey, manifest, recent_start, tracking

PARCELFLOW = [sys.executable, "-m", "parcelflow"]


def run(args: list[str], db: str, cwd: Path, stdin: bytes | None = None,
        **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PARCELFLOW_DATABASE_URL": db, "PARCELFLOW_LOG_FORMAT": "json",
                   **env}
    done = subprocess.run([*PARCELFLOW, *args], cwd=cwd, env=environment, input=stdin,
                          capture_output=True, timeout=120)
    done.stdout, done.stderr = done.stdout.decode(), done.stderr.decode()
    return done


def line(item: object) -> bytes:
    return json.dumps(item, ensure_ascii=False).encode() + b"\n"


def test_ingest_rejects_each_unreadable_line_and_keeps_the_rest(tmp_path, postgres_url):
    scans = journey(1, t0=recent_start())[:4]
    data = b"".join([
        line(scans[0]),
        b'{"scan_id": "\xff\xfe broken"}\n',                  # 2: not UTF-8
        b"[" * 5000 + b"]" * 5000 + b"\n",                     # 3: nested 5,000 deep
        b'{"scan_id": "big", "n": ' + b"9" * 5000 + b"}\n",    # 4: a 5,000-digit integer
        line(scans[1]),
        line({**scans[2], "occurred_at": "9999-12-31T23:59:59-23:59"}),  # 6
        line({**scans[2], "scan_id": "s-epoch", "occurred_at": "1796107516"}),  # 7
        line(scans[3]),
    ])
    (tmp_path / "scans.jsonl").write_bytes(data)
    done = run(["ingest", "scans.jsonl", "--json"], postgres_url, tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] == 3
    reasons = {r["line"]: r["reason"] for r in summary["rejected"]}
    assert set(reasons) == {2, 3, 4, 6, 7}
    assert reasons[2].startswith("line is not valid UTF-8")
    assert reasons[3].startswith("line is not valid JSON: depth limit exceeded")
    assert "type: required field is missing" in reasons[4]  # read; then refused as a scan
    assert reasons[6] == "occurred_at: the year must be from 2000 to 2099"
    assert "ISO 8601 timestamp string" in reasons[7]

    done = run(["ingest", "-", "--json"], postgres_url, tmp_path, stdin=data)  # stdin too
    assert done.returncode == 0 and json.loads(done.stdout)["duplicates"] == 3


def test_register_from_stdin_refuses_bad_times_money_and_cities_per_line(tmp_path, postgres_url):
    rows = [manifest(1, promised_by="9999-12-31T23:59:59-23:59"),
            manifest(2, promised_by="0001-01-01T00:00:00+23:59"),
            manifest(3, promised_by="1970-01-01T00:00:00+00:00"),
            manifest(4, declared_value="1E+400000"),
            manifest(5, origin="XYZ"),
            manifest(6)]
    done = run(["register", "-", "--json"], postgres_url, tmp_path,
               stdin=b"".join(line(r) for r in rows))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] == 1
    reasons = {r["line"]: r["reason"] for r in summary["rejected"]}
    assert reasons[1] == reasons[2] == reasons[3] == \
        "promised_by: the year must be from 2000 to 2099"
    assert reasons[4].startswith("declared_value: must be a decimal string")
    assert reasons[5].startswith("origin: not a city of the network")


def test_options_follow_the_wire_rules(tmp_path, postgres_url):
    done = run(["history", tracking(1), "--as-of", "9999-12-31T23:59:59-23:59"], postgres_url,
               tmp_path)
    assert done.returncode == 2 and "--as-of: the year must be from 2000 to 2099" in done.stderr
    done = run(["claims", "file", tracking(1), "--cause", "lost", "--amount", "1E+400000",
                "--evidence", "photo-1", "--by", "cs-1"], postgres_url, tmp_path)
    assert done.returncode == 2 and "amount: must be a decimal string" in done.stderr
    done = run(["track", "not-a-number"], postgres_url, tmp_path)
    assert done.returncode == 2 and "accepted tracking-number format" in done.stderr
    # The configured formats, read by the CLI as by the wire.
    s10 = {"PARCELFLOW_TRACKING_NUMBER_PATTERNS": '["s10"]'}
    done = run(["register", "-", "--json"], postgres_url, tmp_path,
               stdin=line(manifest(1, tracking_no="RR123456785CN")), **s10)
    assert json.loads(done.stdout)["accepted"] == 1, done.stdout + done.stderr
    done = run(["track", "RR123456785CN", "--json"], postgres_url, tmp_path, **s10)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "registered"
    done = run(["track", "RR123456784CN"], postgres_url, tmp_path, **s10)
    assert done.returncode == 2 and "check digit" in done.stderr
    done = run(["track", tracking(1)], postgres_url, tmp_path, **s10)
    assert done.returncode == 2
