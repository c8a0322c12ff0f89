"""`parcelflow learn-eta`, `track` and `stats` as a user runs them, on the embedded store:
the model learned from the store's deliveries, the parcel's range, the accuracy."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.e2e.test_cli import run, write_lines
from tests.support.builders import manifest, recent_start, scan, tracking


def test_learn_eta_then_a_new_parcel_shows_the_learned_range_and_stats_judge_it(tmp_path):
    db = f"sqlite:///{tmp_path}/pf.db"
    pickup = recent_start()
    week_before = pickup - timedelta(days=7)  # the same weekday
    history = range(100, 131)  # 31 deliveries after 20, 21, ..., 50 hours
    manifests = write_lines(tmp_path / "m.jsonl", [manifest(n) for n in (*history, 1)])
    scans = [s for i, n in enumerate(history) for s in (
        scan("pickup", "SZX-OUT-07", 0, n, t0=week_before),
        scan("delivered", "SHA-STA-13", 20 + i, n, t0=week_before, signed_by="recipient"))]
    for args in (["register", str(manifests)],
                 ["ingest", str(write_lines(tmp_path / "h.jsonl", scans))]):
        assert run(args, db, tmp_path).returncode == 0

    bad = run(["learn-eta", "--every", "soon"], db, tmp_path)
    assert bad.returncode == 2 and "--every" in bad.stderr and "soon" not in bad.stderr

    done = run(["learn-eta", "--days", "30", "--json"], db, tmp_path)
    assert done.returncode == 0, done.stderr
    learned = json.loads(done.stdout)
    assert (learned["version"], learned["trips"], learned["rows"]) == (1, 31, 31)

    new = write_lines(tmp_path / "p.jsonl", [scan("pickup", "SZX-OUT-07", 0, 1, t0=pickup)])
    assert run(["ingest", str(new)], db, tmp_path).returncode == 0
    shown = run(["track", tracking(1)], db, tmp_path, columns=200)
    assert shown.returncode == 0, shown.stderr
    # Deciles of 20..50 h: 23, 35, 47 h after the pickup, in the network's wall clock.
    local = {h: (pickup + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M") for h in (23, 35, 47)}
    assert (f"ETA {local[35]} (range {local[23]} to {local[47]}; confidence 0.41, "
            "lane+service+weekday)") in shown.stdout

    stats = run(["stats", "--json"], db, tmp_path)
    assert stats.returncode == 0, stats.stderr
    lane = json.loads(stats.stdout)["eta_accuracy"]["lanes"]["SZX-SHA"]
    assert lane["deliveries"] == 31 and lane["inside_range"] == 0  # typical hours: one time
