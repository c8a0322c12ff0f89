"""The audit commands as an auditor runs them: checkpoints sent away (a file, stdout, the
real Kafka-protocol broker), a periodic checkpointer stopped by SIGTERM, tampering named
by `verify`, and EPCIS exports."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

from parcelflow.adapters.signing import NoteSigner
from parcelflow.domain.ids import parcel_id
from tests.support.builders import journey, manifest, recent_start, tracking
from tests.support.epcis import schema_errors
from tests.support.kafka_settings import kafka_test_settings, settings_env
from tests.support.tamper import delete_event
from tests.support.topics import read_topic

KEY = NoteSigner.generate("test.parcelflow/checkpoints")
KEY_B64 = base64.b64encode(b"k" * 32).decode()  # a master key


def run(args, env, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "parcelflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def carrier(tmp_path, **settings):
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
           "PARCELFLOW_LOG_FORMAT": "json", "PARCELFLOW_CHECKPOINT_KEY": KEY.private_text(),
           **settings}
    (tmp_path / "m.jsonl").write_text(
        "".join(json.dumps(manifest(n)) + "\n" for n in (1, 2)))
    t0 = recent_start()
    (tmp_path / "s.jsonl").write_text(
        "".join(json.dumps(s) + "\n" for n in (1, 2) for s in journey(n, t0=t0)[:5]))
    for args in (["register", "m.jsonl"], ["ingest", "s.jsonl"]):
        assert run(args, env, tmp_path).returncode == 0
    return env


def test_checkpoints_go_to_a_file_and_stdout_and_verify_names_a_deleted_event(tmp_path):
    env = carrier(tmp_path)
    done = run(["checkpoint", "--to", "file:published.jsonl", "--to", "stdout"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    written = [json.loads(line) for line in (tmp_path / "published.jsonl").read_text().splitlines()]
    assert written == [printed] and printed["id"] == 1
    assert KEY.verifier().open(printed["note"]).split("\n")[1] == "2"  # two parcels
    assert run(["verify", "--all"], env, tmp_path).returncode == 0

    delete_event(env["PARCELFLOW_DATABASE_URL"], parcel_id(tracking(2)), 6)
    for args in (["verify", "--all"], ["verify", "--all", "--checkpoints", "published.jsonl"],
                 ["verify", tracking(2)]):
        shown = run(args, env, tmp_path)
        assert shown.returncode == 1, shown.stdout
        assert f"TAMPERED {tracking(2)} event 6 (deleted_newest_event)" in shown.stdout
    report = json.loads(run(["verify", "--all", "--json"], env, tmp_path).stdout)
    assert [(t["tracking_no"], t["kind"]) for t in report["tampered"]] == [
        (tracking(2), "deleted_newest_event")]
    assert not report["ok"] and report["checkpoint"]["tree_size"] == 2


def test_without_a_key_checkpoint_says_what_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PARCELFLOW_CHECKPOINT_KEY"}
    env["PARCELFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path}/p.db"
    done = run(["checkpoint"], env, tmp_path)
    assert done.returncode == 2 and "PARCELFLOW_CHECKPOINT_KEY" in done.stderr
    bad = run(["checkpoint"], {**env, "PARCELFLOW_CHECKPOINT_KEY": "secret-value-123"}, tmp_path)
    assert bad.returncode == 2 and "secret-value-123" not in bad.stderr + bad.stdout


def test_a_periodic_checkpointer_publishes_to_kafka_and_stops_on_sigterm(tmp_path, kafka_broker):
    settings = kafka_test_settings(f"sqlite:///{tmp_path}/p.db", kafka_broker.bootstrap,
                                   kafka_checkpoints_topic=f"{tmp_path.name}.checkpoints")
    env = carrier(tmp_path, **settings_env(settings))
    worker = subprocess.Popen([sys.executable, "-m", "parcelflow", "checkpoint", "--every", "1",
                               "--to", "kafka", "--json"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(worker.stdout.readline())
        assert first["id"] == 1 and first["tree_size"] == 2
        (tmp_path / "more.jsonl").write_text(json.dumps(journey(1, t0=recent_start())[5]) + "\n")
        assert run(["ingest", "more.jsonl"], env, tmp_path).returncode == 0
        second = json.loads(worker.stdout.readline())  # the log moved: another one
        assert second["id"] == 2 and second["changed"] == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert worker.returncode == 0, worker.stderr.read()
    records = read_topic(kafka_broker.bootstrap, settings.kafka_checkpoints_topic, 2)
    assert [json.loads(r.value)["id"] for r in records] == [1, 2]
    assert all(r.key == b"test.parcelflow/checkpoints" for r in records)


def test_export_epcis_for_a_parcel_and_for_a_period(tmp_path):
    env = carrier(tmp_path, PARCELFLOW_GS1_COMPANY_PREFIX="0614141")
    document = json.loads(run(["export", "epcis", tracking(1)], env, tmp_path).stdout)
    assert schema_errors(document) == [] and len(document["epcisBody"]["eventList"]) == 5
    assert document["epcisBody"]["eventList"][0]["epcList"][0].startswith(
        "https://id.gs1.org/00/00614141")
    today = time.strftime("%Y-%m-%d")
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400 * 2))
    lines = run(["export", "epcis", "--from", "2020-01-01", "--to", tomorrow, "--jsonl"],
                env, tmp_path).stdout.splitlines()
    assert len(lines) == 10 and all(schema_errors(json.loads(line)) == [] for line in lines)
    assert run(["export", "epcis", "--from", "2020-01-01", "--to", "2020-01-02"], env,
               tmp_path).returncode == 0
    assert run(["export", "epcis", tracking(1), "--from", today], env, tmp_path).returncode == 2
    missing = run(["export", "epcis", tracking(9)], env, tmp_path)
    assert missing.returncode == 1 and "no parcel" in missing.stderr


def test_history_and_track_on_both_clocks(tmp_path):
    env = carrier(tmp_path)
    events = json.loads(run(["history", tracking(1), "--json"], env, tmp_path).stdout)["events"]
    registered_at = events[0]["recorded_at"]
    after_pickup = events[1]["occurred_at"]  # the pickup; the departure came an hour later
    shown = json.loads(run(["history", tracking(1), "--json", "--as-of", after_pickup],
                           env, tmp_path).stdout)
    assert shown["status"] == "picked_up" and shown["as_of"] == after_pickup
    assert [e["type"] for e in shown["events"]] == ["scan_recorded"]  # registered later
    known = json.loads(run(["history", tracking(1), "--json", "--recorded-by", registered_at],
                           env, tmp_path).stdout)
    assert known["status"] == "registered" and len(known["events"]) == 1
    both = run(["history", tracking(1), "--as-of", after_pickup, "--recorded-by",
                registered_at], env, tmp_path)
    assert both.returncode == 1 and "as of" in both.stderr  # nothing known had happened by then
    seen = json.loads(run(["track", tracking(1), "--json", "--recorded-by", registered_at],
                          env, tmp_path).stdout)
    assert seen["status"] == "registered" and len(seen["timeline"]) == 1
    text = run(["track", tracking(1), "--recorded-by", registered_at], env, tmp_path)
    assert text.returncode == 0 and "registered" in text.stdout
    naive = run(["track", tracking(1), "--recorded-by", "2026-11-22T10:00:00"], env, tmp_path)
    assert naive.returncode == 2 and "timezone offset" in naive.stderr


def test_correct_void_and_amend_from_the_command_line(tmp_path, database_url):
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": database_url, "PARCELFLOW_LOG_FORMAT": "json"}
    scans = journey(1, t0=recent_start())
    scans[5] = {**scans[5], "facility": "HGH-HUB-03"}  # sorted for SHA-HUB-02, arrived at HGH
    (tmp_path / "m.jsonl").write_text(json.dumps(manifest(1)) + "\n")
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scans[:6]))
    (tmp_path / "rest.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scans[6:]))
    for args in (["register", "m.jsonl"], ["ingest", "s.jsonl"]):
        assert run(args, env, tmp_path).returncode == 0
    assert json.loads(run(["track", tracking(1), "--json"], env, tmp_path).stdout)["flags"] == [
        "misdirected"]
    assert [r["code"] for r in json.loads(run(["exceptions", "--json"], env,
                                              tmp_path).stdout)] == ["misdirected"]

    amended = run(["correct", "amend", tracking(1), scans[5]["scan_id"], "--by", "auditor-7",
                   "--reason", "wrong dock", "--facility", "SHA-HUB-02"], env, tmp_path)
    assert amended.returncode == 0, amended.stderr
    assert f"scan {scans[5]['scan_id']} (event 7) amended" in amended.stdout
    assert json.loads(run(["exceptions", "--json"], env, tmp_path).stdout) == []
    assert run(["ingest", "rest.jsonl"], env, tmp_path).returncode == 0
    voided = run(["correct", "void", tracking(1), scans[-1]["scan_id"], "--by", "supervisor-2",
                  "--reason", "pressed delivered too early"], env, tmp_path)
    assert voided.returncode == 0, voided.stderr

    row = json.loads(run(["track", tracking(1), "--json"], env, tmp_path).stdout)
    assert row["flags"] == [] and row["status"] == "out_for_delivery"
    assert [t["voided"] for t in row["timeline"] if t["type"] == "delivered"] == [True]
    history = json.loads(run(["history", tracking(1), "--json"], env, tmp_path).stdout)
    types = [e["type"] for e in history["events"]]
    assert "scan_amended" in types and "event_voided" in types
    assert types.count("scan_recorded") == 11  # the originals stay

    again = run(["correct", "void", tracking(1), scans[-1]["scan_id"], "--by", "s",
                 "--reason", "r"], env, tmp_path)
    assert again.returncode == 1 and "already voided" in again.stderr
    empty = run(["correct", "amend", tracking(1), scans[2]["scan_id"], "--by", "s",
                 "--reason", "r"], env, tmp_path)
    assert empty.returncode == 2 and "at least one" in empty.stderr


def test_long_running_commands_refuse_postgresql_without_master_keys(tmp_path, postgres_url):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PARCELFLOW_PII_MASTER_KEY", "PARCELFLOW_CREDENTIALS_MASTER_KEY")}
    env.update(PARCELFLOW_DATABASE_URL=postgres_url, PARCELFLOW_DEVELOPMENT="false",
               PARCELFLOW_CHECKPOINT_KEY=KEY.private_text())
    for command in (["serve"], ["project", "--follow"], ["detect", "--every", "60"],
                    ["checkpoint", "--every", "60"]):
        done = run(command, env, tmp_path, timeout=60)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert ("without PARCELFLOW_PII_MASTER_KEY and PARCELFLOW_CREDENTIALS_MASTER_KEY"
                in done.stderr)
    half = run(["serve"], {**env, "PARCELFLOW_PII_MASTER_KEY": KEY_B64}, tmp_path, timeout=60)
    assert half.returncode == 2 and "without PARCELFLOW_CREDENTIALS_MASTER_KEY" in half.stderr
    assert KEY_B64 not in half.stderr + half.stdout
    # One-off commands (an auditor's history, a registration) are not long-running.
    assert run(["verify", "--all"], env, tmp_path).returncode == 0


def test_keys_rotate_master_from_the_command_line(tmp_path):
    old, new = KEY_B64, base64.b64encode(b"n" * 32).decode()
    env = carrier(tmp_path, PARCELFLOW_PII_MASTER_KEY=old)
    rotating = {**env, "PARCELFLOW_PII_MASTER_KEY": new, "PARCELFLOW_PII_MASTER_KEY_PREVIOUS": old}
    done = run(["keys", "rotate-master"], rotating, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 data keys rewrapped under the new master key, 0 already under it" in done.stdout
    after = {**env, "PARCELFLOW_PII_MASTER_KEY": new}
    shown = json.loads(run(["history", tracking(1), "--json", "--reveal"], after, tmp_path).stdout)
    assert shown["events"][0]["details"]["manifest"]["receiver"]["phone"] == "13987654321"
    assert run(["keys", "rotate-master"], after, tmp_path).returncode == 2  # no previous key
