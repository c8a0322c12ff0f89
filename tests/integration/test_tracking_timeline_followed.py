"""A follower keeps each timeline line it wrote, by version, while its entry stands, and
joins the kept lines again at every scan. Through scans in order, a late scan put
before others, a voided scan, a delivery signed by name and an erasure, the stored
timeline is the one a renderer that never saw the parcel writes."""

from __future__ import annotations

import orjson
from parcelflow.projections.registry import runner
from parcelflow.projections.tracking_view import Renderer

from parcelflow.application.corrections import Corrections
from parcelflow.application.erasure import Erasure
from tests.support.builders import journey, manifest, tracking


def test_a_followed_timeline_is_the_one_written_afresh_after_appends_late_scans_voids_and_erasure(
        service):
    follower = runner(service, "tracking")
    number = tracking(1)
    scans = journey(1)
    scans[-1]["signed_by"] = "王小明"  # a name: sealed, and masked on the timeline

    def followed() -> list[dict]:
        follower.run()
        return orjson.loads(follower.projection.view.query(
            "SELECT timeline FROM tracking_view WHERE tracking_no = ?", [number])[0]["timeline"])

    def afresh() -> list[dict]:
        return orjson.loads(Renderer(service, size=4).rows([service.get(number)])[0]["timeline"])

    try:
        service.register([manifest(1)])
        shown = []
        for step in (0, 1, 2, 3, 5):  # in order, one at a time: lines added after the rest
            service.ingest([scans[step]])
            shown.append(followed())
            assert shown[-1] == afresh()
        assert [len(t) for t in shown] == [len(shown[0]) + k for k in range(5)]

        service.ingest([scans[4]])  # late: lands between lines already written
        late = followed()
        assert late == afresh()
        versions = [t["version"] for t in late]
        [put] = [t for t in late if t["late"]]
        assert [v for v in versions if v != put["version"]] == [t["version"] for t in shown[-1]]
        # in occurred order: the late departure before the arrival written before it
        assert [t["facility"] for t in late if t["facility"]] == \
            [scans[k]["facility"] for k in range(6)]

        Corrections(service).void(number, scans[2]["scan_id"], by="ops", reason="scanned twice")
        voided = followed()
        assert voided == afresh()
        assert [t["voided"] for t in voided if t["facility"]] == \
            [k == 2 for k in range(6)]  # the third scan marked, in its place

        service.ingest(scans[6:])  # the rest, to the delivery signed by name
        delivered = followed()
        assert delivered == afresh()
        [signed] = [t["description"] for t in delivered if t["type"] == "delivered"]
        assert "王小明" not in signed and "王" in signed  # masked, not erased yet

        Erasure(service).erase(number, by="dpo")
        erased = followed()
        assert erased == afresh()
        assert "王" not in orjson.dumps(erased).decode()
        kept = [t["version"] for t in erased]
        assert [t["version"] for t in delivered] == kept[:len(delivered)]  # every line kept
        assert len(kept) == len(delivered) + 1  # and the erasure's own
    finally:
        follower.close()
