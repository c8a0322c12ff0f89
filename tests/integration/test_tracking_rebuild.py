"""A rebuilt tracking view is the followed one, row for row and byte for byte.

`tests/integration/test_projections.py` compares the views decoded (JSON columns as
values); a rebuild renders and writes its rows by its own path (Runner.replay: whole
parcels, rendered once, COPYed into the emptied table), so here the stored text itself
is compared, on a simulated day: late manifests, late and out-of-order uploads,
exceptions, deliveries, an erasure, parcels spread over many follower batches.
"""

from __future__ import annotations

import pytest
from parcelflow.projections.registry import runner

from parcelflow.application.erasure import Erasure
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


def test_a_chunk_made_whole_is_the_chunk_applied_whatever_order_its_events_come_in(
        service, monkeypatch):
    from parcelflow.projections.base import Replica

    sim = simulate(service.network, parcels=12, now=service.clock(), seed=8)
    service.register(sim.manifests)
    service.ingest(sim.scans)
    service.register(sim.late_manifests)
    mapper, upto = service.mapper, service.recorder.max_notification_id()
    stored = service.recorder.select_events_for(service.recorder.parcel_ids(upto))
    by_parcel = [[mapper.to_domain_event(e) for e in evs] for evs in stored.values()]
    in_log = sorted((e for evs in by_parcel for e in evs),
                    key=lambda e: (e.recorded_at, e.originator_version))

    def parcels(found: dict) -> dict:
        return {pid: (p.version, p.state, vars(p.entries)["_sorted"]) for pid, p in found.items()}

    expected = parcels(Replica(service).apply(in_log))
    assert len(expected) == 12 and min(len(evs) for evs in by_parcel) >= 2  # see `middle`
    # Parcel by parcel (a rebuild's chunk): made whole, `apply` never asked.
    with monkeypatch.context() as patched:
        patched.setattr(Replica, "apply", lambda self, events: pytest.fail("applied"))
        assert parcels(Replica(service).whole([e for evs in by_parcel for e in evs])) == expected
    # Interleaved, one history given twice, one parcel from its middle: applied instead.
    twice = [e for evs in by_parcel for e in evs] + by_parcel[0][:2]  # its start again
    middle = [e for evs in by_parcel[1:] for e in evs] + by_parcel[0][1:]
    assert parcels(Replica(service).whole(in_log)) == expected
    assert parcels(Replica(service).whole(twice)) == expected
    assert parcels(Replica(service).whole(middle)) == expected
