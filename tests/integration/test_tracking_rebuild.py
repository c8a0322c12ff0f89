"""A rebuilt tracking view is the followed one, row for row and byte for byte.

`tests/integration/test_projections.py` compares the views decoded (JSON columns as
values); a rebuild renders and writes its rows by its own path (Runner.replay: whole
parcels, rendered once, COPYed into the emptied table), so here the stored text itself
is compared, on a simulated day: late manifests, late and out-of-order uploads,
exceptions, deliveries, an erasure, parcels spread over many follower batches.
"""

from __future__ import annotations

from parcelflow.application.erasure import Erasure
from parcelflow.projections.registry import runner
from parcelflow.simulation import simulate


def stored_rows(r) -> list[dict]:
    return r.projection.view.query("SELECT * FROM tracking_view ORDER BY tracking_no")


def test_a_rebuilt_tracking_view_is_the_followed_one_byte_for_byte(service, clock):
    sim = simulate(service.network, parcels=120, now=service.clock(), seed=5)
    follower = runner(service, "tracking", batch_size=37)  # parcels span many batches
    try:
        for k in range(0, len(sim.manifests), 40):
            service.register(sim.manifests[k:k + 40])
            follower.run()
        for k in range(0, len(sim.scans), 97):
            service.ingest(sim.scans[k:k + 97])
            follower.run()
        service.register(sim.late_manifests)
        Erasure(service).erase(sim.manifests[3]["tracking_no"], by="dpo")
        follower.run()
        followed = stored_rows(follower)
        assert len(followed) == len({m["tracking_no"] for m in sim.manifests + sim.late_manifests})

        in_log = len(service.recorder.select_notifications(start=None, limit=1_000_000))
        events, _ = follower.rebuild()

        assert events == in_log  # every event replayed, once
        assert follower.position == follower.follower.head()
        assert stored_rows(follower) == followed
        follower.run()  # and the follower carries on from the rebuilt position
        assert stored_rows(follower) == followed
    finally:
        follower.close()
