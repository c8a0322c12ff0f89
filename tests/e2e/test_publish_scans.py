"""`parcelflow publish-scans` on the real broker: it says which lines did not make it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.builders import journey, recent_start
from tests.support.kafka_settings import kafka_test_settings, settings_env
from tests.support.topics import read_topic


def test_lines_the_broker_did_not_take_are_named_and_the_rest_are_published(
        kafka_broker, tmp_path):
    settings = kafka_test_settings(f"sqlite:///{tmp_path}/pf.db", kafka_broker.bootstrap)
    scans = journey(1, t0=recent_start())[:3]
    too_big = {**scans[0], "scan_id": "x", "note": "x" * (2 * 1024 * 1024)}  # over 1 MB
    lines = [json.dumps(scans[0]), json.dumps(too_big), "", json.dumps(scans[1]),
             json.dumps(scans[2])]
    (tmp_path / "scans.jsonl").write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "parcelflow", "publish-scans", "scans.jsonl"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **settings_env(settings)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "line 2: not published: MessageSizeTooLargeError" in done.stderr
    assert "1 of 4 scans were not published" in done.stderr
    records = read_topic(kafka_broker.bootstrap, settings.kafka_scans_topic, 3)
    assert sorted(json.loads(r.value)["scan_id"] for r in records) == \
        sorted(s["scan_id"] for s in scans)


def test_unreadable_lines_are_named_and_never_cost_their_neighbours(kafka_broker, tmp_path):
    settings = kafka_test_settings(f"sqlite:///{tmp_path}/pf.db", kafka_broker.bootstrap)
    scans = journey(2, t0=recent_start())[:2]
    data = b"".join([json.dumps(scans[0]).encode() + b"\n",
                     b'{"scan_id": "\xff bad"}\n',
                     b"[" * 5000 + b"]" * 5000 + b"\n",
                     json.dumps(scans[1]).encode() + b"\n"])
    done = subprocess.run([sys.executable, "-m", "parcelflow", "publish-scans", "-"],
                          cwd=tmp_path, input=data, capture_output=True, timeout=120,
                          env={**os.environ, **settings_env(settings)})
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "line 2: not published: line is not valid UTF-8" in stderr
    assert "line 3: not published: line is not valid JSON" in stderr
    assert "2 of 4 scans were not published" in stderr
    records = read_topic(kafka_broker.bootstrap, settings.kafka_scans_topic, 2)
    assert sorted(json.loads(r.value)["scan_id"] for r in records) == \
        sorted(s["scan_id"] for s in scans)
