from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from parcelflow.bootstrap import load_network
from parcelflow.simulation import simulate
from parcelflow.wire.manifests import ManifestV1, validate_manifest
from parcelflow.wire.scans import ScanLimits, ScanV1, validate_scan

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def test_the_same_seed_gives_the_same_day():
    network = load_network()
    a = simulate(network, parcels=200, now=NOW, seed=11)
    b = simulate(network, parcels=200, now=NOW, seed=11)
    assert a.stream == b.stream


def test_a_simulated_day_has_what_real_scanners_send():
    sim = simulate(load_network(), parcels=3000, now=NOW, seed=5)
    scans = sim.scans
    ids = Counter(s["scan_id"] for s in scans)
    assert sum(n - 1 for n in ids.values()) > 100  # retried duplicates
    types = Counter(s["type"] for s in scans)
    assert types["delivered"] > 100 and types["delivery_attempt"] > 0
    assert {s["exception_code"] for s in scans if s["type"] == "exception"} >= {"damaged", "weather"}
    # Late uploads: some scans reach the server after a later scan of the same parcel.
    latest: dict[str, str] = {}
    late = 0
    for s in scans:
        if s["occurred_at"] < latest.get(s["tracking_no"], ""):
            late += 1
        latest[s["tracking_no"]] = max(latest.get(s["tracking_no"], ""), s["occurred_at"])
    assert late > 10
    assert sim.late_manifests and len(sim.manifests) + len(sim.late_manifests) == 3000
    # Everything it writes is valid wire format, except scans from fast-running clocks.
    assert all(isinstance(validate_manifest(m), ManifestV1) for m in sim.manifests[:200])
    limits = ScanLimits()
    valid = [validate_scan(s, now=NOW, limits=limits) for s in scans]
    invalid = [v for v in valid if not isinstance(v, ScanV1)]
    assert len(invalid) < len(scans) * 0.005
    assert all("ahead of the server clock" in v.reason for v in invalid)
