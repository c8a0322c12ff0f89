"""`parcelflow ingest FILE` in two processes (entrypoints/ingest_processes.py): the same
answer and the same stored parcels as one process, every scan kept, and clear refusals
where two processes cannot work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parcelflow.bootstrap import build_service
from parcelflow.entrypoints.ingest_processes import owner, share_of
from parcelflow.entrypoints.jsonlines import Line
from parcelflow.settings import Settings
from tests.e2e.test_cli import run, write_lines
from tests.support.builders import journey, manifest, recent_start, tracking
from tests.support.postgres import fresh_database

PARCELS = range(1, 41)


def _files(tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    t0 = recent_start()
    scans = [s for n in PARCELS for s in journey(n, t0=t0)[:7]]
    # Retries (the same scan again, far from the first), a line that is not JSON, a
    # scan with a field the format does not have, one without a tracking number.
    lines: list = [*scans[:150], "{not json", *scans[140:160],
                   {**scans[3], "scan_id": "x-1", "colour": "red"}, *scans[150:],
                   {k: v for k, v in scans[5].items() if k != "tracking_no"}]
    manifests = write_lines(tmp_path / "m.jsonl", [manifest(n) for n in PARCELS])
    return manifests, write_lines(tmp_path / "s.jsonl", lines), scans


def _stored(url: str) -> dict[str, list[tuple[str, str | None]]]:
    svc = build_service(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    try:
        return {tracking(n): [(e.kind, e.scan.scan_id if e.scan else None)
                              for e in svc.get(tracking(n)).state.timeline]
                for n in PARCELS}
    finally:
        svc.close()


@pytest.mark.postgres
def test_two_processes_answer_and_store_what_one_does(tmp_path):
    manifests, scans_file, scans = _files(tmp_path)
    answers, stored = [], []
    for workers in ("2", "1"):
        with fresh_database() as url:
            assert run(["register", str(manifests)], url, tmp_path).returncode == 0
            done = run(["ingest", str(scans_file), "--json", "--workers", workers], url, tmp_path)
            assert done.returncode == 0, done.stderr
            answers.append(json.loads(done.stdout))
            stored.append(_stored(url))
    assert answers[0] == answers[1]
    assert answers[0]["accepted"] == len(scans) and answers[0]["duplicates"] == 20
    assert [r["line"] for r in answers[0]["rejected"]] == [151, 172, len(scans) + 23]
    assert stored[0] == stored[1]
    # Every scan is on its parcel, once.
    kept = [scan_id for timeline in stored[0].values() for _, scan_id in timeline if scan_id]
    assert sorted(kept) == sorted(s["scan_id"] for s in scans)


@pytest.mark.postgres
def test_the_default_on_postgresql_is_two_processes_and_replaying_changes_nothing(tmp_path):
    manifests, scans_file, scans = _files(tmp_path)
    with fresh_database() as url:
        run(["register", str(manifests)], url, tmp_path)
        first = run(["ingest", str(scans_file), "--json"], url, tmp_path)
        assert first.returncode == 0, first.stderr
        # Each process logs its own summary line: two of them.
        logged = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
        assert sum(1 for line in logged if line.get("event") == "scans.ingested") >= 2
        again = run(["ingest", str(scans_file), "--json"], url, tmp_path)
        assert json.loads(again.stdout)["accepted"] == 0
        assert json.loads(again.stdout)["duplicates"] == len(scans) + 20


def test_two_processes_are_refused_where_they_cannot_work(tmp_path):
    _, scans_file, _ = _files(tmp_path)
    sqlite = f"sqlite:///{tmp_path}/p.db"
    done = run(["ingest", str(scans_file), "--workers", "2"], sqlite, tmp_path)
    assert done.returncode == 2 and "needs PostgreSQL" in done.stderr
    done = run(["ingest", "-", "--workers", "2"], "postgresql://postgres@127.0.0.1:1/x",
               tmp_path, stdin=scans_file.read_text())
    assert done.returncode == 2 and "standard input" in done.stderr
    # The default on SQLite is one process: it works.
    assert run(["ingest", str(scans_file)], sqlite, tmp_path).returncode == 0


def test_a_process_that_cannot_reach_the_database_is_reported_once_with_the_reason(tmp_path):
    _, scans_file, _ = _files(tmp_path)
    done = run(["ingest", str(scans_file), "--workers", "2"],
               "postgresql://postgres@127.0.0.1:1/nothing", tmp_path)
    assert done.returncode == 1
    assert "stopped (OperationalError: connection failed" in done.stderr
    assert "run the same command again" in done.stderr
    missing = run(["ingest", str(tmp_path / "none.jsonl"), "--workers", "2"],
                  "postgresql://postgres@127.0.0.1:1/nothing", tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("cannot read") == 1


def test_each_line_belongs_to_one_process_and_a_parcel_to_one():
    lines = [Line(k, {"tracking_no": tracking(k % 7), "scan_id": str(k)}) for k in range(1, 200)]
    odd = [Line(500, None, "line is not valid JSON"), Line(501, {"scan_id": "no number"}),
           Line(502, ["not", "an", "object"])]
    for count in (2, 3):
        shares = [[line for line in lines + odd if share_of(k, count)(line)]
                  for k in range(count)]
        numbers = sorted(line.number for share in shares for line in share)
        assert numbers == sorted(line.number for line in lines + odd)  # each once
        assert {500, 501, 502} <= {line.number for line in shares[0]}  # the first reports
        for n in range(7):
            holding = {k for k, share in enumerate(shares) for line in share
                       if line.number < 500 and line.item["tracking_no"] == tracking(n)}
            assert len(holding) == 1
        assert all(any(line.number < 500 for line in share) for share in shares)
