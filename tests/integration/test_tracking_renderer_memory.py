"""What the tracking view's renderer remembers for the parcels its replica holds: a
follower does not decrypt a parcel's receiver and sender again at every scan."""

from __future__ import annotations

from parcelflow.projections.registry import runner

from parcelflow.application.personal_data import Opener
from tests.support.builders import journey, manifest


def test_a_follower_opens_each_parcels_parties_once_while_its_replica_holds_the_parcel(
        service, monkeypatch):
    parcels = range(1, 21)
    follower = runner(service, "tracking", replica_size=len(parcels))  # holds all of them
    opened: list[object] = []
    real_open = Opener.open

    def counted(self, parcel_id, sealed, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(parcel_id)
        return real_open(self, parcel_id, sealed, **kwargs)

    monkeypatch.setattr(Opener, "open", counted)
    try:
        service.register([manifest(n) for n in parcels])
        follower.run()
        assert len(opened) == 2 * len(parcels)  # each receiver and sender, once

        service.ingest([journey(n)[0] for n in parcels])  # every parcel picked up
        follower.run()
        assert len(opened) == 2 * len(parcels)  # nothing opened again
        rows = follower.projection.view.all()
        assert all(r["receiver"] and r["sender"] and r["status"] == "picked_up" for r in rows)
    finally:
        follower.close()
