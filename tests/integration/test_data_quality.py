"""A scan at a facility the network registry does not know is kept (nothing is lost),
flagged on the parcel as a data-quality problem, and counted in the statistics, as the
design says (DESIGN.md, Facilities)."""

from __future__ import annotations

from parcelflow.projections.registry import runner
from tests.support.api import Api
from tests.support.builders import journey, manifest, scan, tracking

UNKNOWN = "ZZZ-HUB-99"


def _send(api: Api, *scans: dict) -> None:
    for item in scans:
        r = api.client.post("/v1/scans", json=[item], headers=api.auth(item["facility"]))
        assert r.json()["accepted"] == 1, r.text


def test_a_scan_at_an_unknown_facility_is_kept_flagged_and_counted(api):
    no = tracking(1)
    api.client.post("/v1/parcels", json=manifest(1), headers=api.auth("orders"))
    api.client.post("/v1/parcels", json=manifest(2), headers=api.auth("orders"))
    stray = scan("arrival", UNKNOWN, 2.2, 1)
    _send(api, *journey(1)[:3], stray, *journey(2)[:3])
    api.catch_up("tracking", "stats")

    parcel = api.service.get(no)
    assert stray["scan_id"] in parcel.scan_versions  # kept
    view = runner(api.service, "tracking")
    try:
        flagged = view.projection.view.get(no)["data_problems"]
        clean = view.projection.view.get(tracking(2))["data_problems"]
    finally:
        view.close()
    assert [(p["problem"], p["facility"], p["scan_id"]) for p in flagged] == [
        ("unknown_facility", UNKNOWN, stray["scan_id"])]
    assert clean == []

    day = stray["occurred_at"][:10]
    r = api.client.get("/v1/stats", params={"day": day}, headers=api.auth("supervisor"))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["network"]["unknown_facility_scans"] == 1
    assert report["facilities"][UNKNOWN]["unknown_facility_scans"] == 1
    assert report["facilities"]["SZX-HUB-01"]["unknown_facility_scans"] == 0
    assert api.client.get("/v1/stats", params={"day": day}).status_code == 401
    assert api.client.get("/v1/stats", params={"day": "2026-13-01"},
                          headers=api.auth("supervisor")).status_code == 422
