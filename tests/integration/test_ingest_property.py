"""No input makes an ingest surface fail: whatever is drawn from the wire schemas and bent
(wrong types, extra fields, huge values, control characters, odd timestamps, deep
nesting, not an object at all), each item gets a per-item answer, and the valid
neighbours around it are stored. On PostgreSQL, through the service, the HTTP API and
the JSON Lines reader `parcelflow ingest` and `register` use."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelflow.application.results import ItemStatus
from parcelflow.entrypoints.ingest_cli import _load_file
from parcelflow.wire.manifests import ManifestV1
from parcelflow.wire.scans import ScanV1
from tests.support.builders import manifest, scan
from tests.support.schema_strategies import SECRET, from_schema, mutated

SCANS = mutated(from_schema(ScanV1.model_json_schema()))
MANIFESTS = mutated(from_schema(ManifestV1.model_json_schema()))
HOSTILE_BATCH = st.lists(st.one_of(SCANS, MANIFESTS), min_size=1, max_size=4)
LINES = st.lists(st.one_of(SCANS.map(lambda i: json.dumps(i, ensure_ascii=False).encode()),
                           st.binary(max_size=40)), min_size=1, max_size=4)
FAST = settings(max_examples=20, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
_numbers = itertools.count(1)


def _neighbour_scans() -> list[dict[str, Any]]:
    # Numbers no schema draw comes near ("NB..."): a drawn valid item never collides.
    return [{**scan("pickup", "SZX-OUT-07", 1, 1), "tracking_no": f"NB{next(_numbers):015d}"}
            for _ in range(2)]


def _neighbour_manifests() -> list[dict[str, Any]]:
    return [manifest(1, tracking_no=f"NB{next(_numbers):015d}") for _ in range(2)]


def _check(results: list[dict[str, Any]], size: int) -> None:
    assert len(results) == size
    for r in results:
        assert r["status"] in {"accepted", "duplicate", "rejected"}
        if r["status"] == "rejected":
            assert isinstance(r["reason"], str) and 0 < len(r["reason"]) <= 1000
            assert SECRET.split()[0] not in r["reason"] and "张三" not in r["reason"]


def _as_dicts(report: Any) -> list[dict[str, Any]]:
    return [{"status": str(r.status), "reason": r.reason} for r in report.results]


def _stored(api: Any, tracking_nos: list[str]) -> None:
    for no in tracking_nos:
        api.service.get(no)  # raises when the neighbour was lost


@FAST
@given(hostile=HOSTILE_BATCH)
def test_the_service_answers_every_item_and_keeps_the_neighbours(api, hostile):
    scans, manifests = _neighbour_scans(), _neighbour_manifests()
    report = api.service.ingest([scans[0], *hostile, scans[1]])
    _check(_as_dicts(report), len(hostile) + 2)
    assert report.results[0].status == report.results[-1].status == ItemStatus.ACCEPTED
    report = api.service.register([manifests[0], *hostile, manifests[1]])
    _check(_as_dicts(report), len(hostile) + 2)
    assert report.results[0].status == report.results[-1].status == ItemStatus.ACCEPTED
    _stored(api, [s["tracking_no"] for s in scans] + [m["tracking_no"] for m in manifests])


@FAST
@given(hostile=HOSTILE_BATCH)
def test_the_http_api_answers_every_item_and_keeps_the_neighbours(api, hostile):
    scans, manifests = _neighbour_scans(), _neighbour_manifests()
    for path, who, neighbours in (("/v1/scans", "SZX-OUT-07", scans),
                                  ("/v1/parcels", "orders", manifests)):
        body = json.dumps([neighbours[0], *hostile, neighbours[1]], ensure_ascii=False)
        r = api.client.post(path, content=body.encode(), headers={
            **api.auth(who), "Content-Type": "application/json"})
        assert r.status_code == 200, r.text[:500]
        results = r.json()["results"]
        _check(results, len(hostile) + 2)
        assert results[0]["status"] == results[-1]["status"] == "accepted"
    _stored(api, [s["tracking_no"] for s in scans] + [m["tracking_no"] for m in manifests])


@FAST
@given(lines=LINES)
def test_the_json_lines_reader_answers_every_line_and_keeps_the_neighbours(
        api, tmp_path_factory, lines):
    scans = _neighbour_scans()
    path = Path(tmp_path_factory.mktemp("lines")) / "scans.jsonl"
    raw = [json.dumps(scans[0]).encode(), *lines, json.dumps(scans[1]).encode()]
    # A drawn line may hold line breaks itself (bytes): count what the reader sees.
    path.write_bytes(b"\n".join(raw) + b"\n")
    summary = _load_file(str(path), "scan_id", api.service.ingest)
    for rejected in summary["rejected"]:
        assert isinstance(rejected["reason"], str) and rejected["reason"]
        assert rejected["line"] not in (1, len(path.read_bytes().splitlines()))
    _stored(api, [s["tracking_no"] for s in scans])
