"""What the notification worker reads about each event (consumers/notifications/facts.py)
is the same however the events arrive: all in one batch, one a batch with the parcels
kept folded in between, each batch on a fresh worker, or an old event delivered again.
On both stores (the worker reads only what is newer than the parcels it holds)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from parcelflow.consumers.notifications.facts import EventRef, FactFinder
from parcelflow.consumers.parcel_events import event_id

from parcelflow.adapters.transit_models import models_in_force
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.transit_times import predict_delivery
from tests.support.builders import T0, journey, manifest, scan, tracking

PARCELS = (1, 2, 3)


def refs_of(service) -> list[EventRef]:
    """Every stored event of the parcels, as the relay's CloudEvents name them, in log order."""
    return [EventRef(event_id(n.originator_id, n.originator_version), n.originator_id,
                     n.originator_version)
            for n in service.recorder.select_notifications(start=None, limit=10_000)]


def a_late_day(service):
    """Parcels promised for 22 h after pickup: the long haul moves their likely time
    past the promise, and the next scan after it tells of the miss."""
    service.register([manifest(n, promised_by=(T0 + timedelta(hours=22)).isoformat())
                      for n in PARCELS])
    service.ingest([s for n in PARCELS for s in journey(n)])
    return service


def test_facts_are_the_same_in_one_batch_one_by_one_and_on_a_fresh_worker(service):
    a_late_day(service)
    refs = refs_of(service)
    together = FactFinder(service).facts(refs)
    assert [f.ref for f in together] == refs
    news = [f.eta_change for f in together]
    # The day tells both kinds of promise news, so the predictions before each event count.
    assert news.count("past_promise") == len(PARCELS)
    assert news.count("promise_missed") == len(PARCELS)

    # Each prediction is the one made for the parcel as it stood right after its event.
    models = models_in_force(service)
    for f in together:
        then = service.repository.get(f.ref.parcel_id, version=f.ref.version)
        assert f.predicted == predict_delivery(then.state, then.manifest, service.network,
                                               models, revised=then.eta)[1]
    assert any(f.predicted for f in together)

    kept = FactFinder(service)  # parcels kept folded from one batch to the next
    assert [f for ref in refs for f in kept.facts([ref])] == together
    assert [f for ref in refs for f in FactFinder(service).facts([ref])] == together


def test_a_worker_that_holds_a_parcel_reads_only_its_new_events_and_an_old_one_again(service):
    a_late_day(service)
    refs = refs_of(service)
    expected = {f.ref: f for f in FactFinder(service).facts(refs)}
    finder = FactFinder(service)
    read: list[dict] = []
    select = service.recorder.select_events_in

    def counting(versions):
        found = select(versions)
        read.append({pid: [e.originator_version for e in events]
                     for pid, events in found.items()})
        return found

    service.recorder.select_events_in = counting  # type: ignore[method-assign]
    first = parcel_id(tracking(1))
    mine = [r for r in refs if r.parcel_id == first]
    assert finder.facts(mine[:5]) == [expected[r] for r in mine[:5]]
    assert finder.facts(mine[5:7]) == [expected[r] for r in mine[5:7]]
    # What is newer than the version held (5), up to the last wanted; not the parcel's
    # first five again, nor what came after.
    assert read[-1] == {first: [6, 7]}
    # Delivered again (a consumer's rewind): the parcel is folded again from the start.
    assert finder.facts(mine[2:3]) == [expected[mine[2]]]
    assert read[-1][first][0] == 1
    assert finder.facts(mine[7:]) == [expected[r] for r in mine[7:]]


def test_a_webhook_workers_facts_are_the_full_ones_without_what_only_receivers_read(service):
    a_late_day(service)
    service.register([manifest(4)])  # to a pickup point, the scanner's note on its hold
    service.ingest(journey(4)[:9] + [scan("held_at_pickup_point", "SHA-PP-01", 23.5, 4,
                                          note="on the shelf by the door")])
    refs = refs_of(service)
    full = FactFinder(service).facts(refs)
    assert any(f.pickup_code for f in full) and any(f.note for f in full)
    assert any(f.next_activity for f in full) and any(f.predicted for f in full)
    blank = {"predicted": None, "eta_change": None, "next_activity": None, "note": None,
             "pickup_code": None}
    expected = [replace(f, **blank) for f in full]
    merchants_only = FactFinder(service, predictions=False, for_receivers=False)
    assert merchants_only.facts(refs) == expected
    # Held from batch to batch as well.
    kept = FactFinder(service, predictions=False, for_receivers=False)
    assert [f for ref in refs for f in kept.facts([ref])] == expected
