"""A batch's objects are freed when it ends, by reference counting: none of them is left
in a reference cycle for the cyclic collector to find (see tests/support/cycles.py)."""

from __future__ import annotations

from parcelflow.domain.vocabulary import ExceptionCode
from tests.support.builders import Clock, journey, manifest, tracking
from tests.support.cycles import left_in_cycles
from tests.support.in_memory import in_memory_service


def test_an_ingest_batch_leaves_nothing_in_reference_cycles():
    clock = Clock()
    service = in_memory_service(clock, cache_size=100)
    service.register([manifest(n) for n in range(1, 6)])
    service.ingest([journey(n)[0] for n in range(1, 6)])
    batch = [journey(n)[1] for n in range(1, 6)] + [journey(1)[0]]  # and a duplicate
    assert left_in_cycles(lambda: service.ingest(batch)) == {}
    # Without the cache (every parcel loaded), and a command by tracking number.
    cold = in_memory_service(clock, cache_size=0)
    cold.register([manifest(7)])
    assert left_in_cycles(lambda: cold.ingest(journey(7)[:3])) == {}
    assert left_in_cycles(lambda: cold.command(tracking(7), lambda p: p.raise_exception(
        ExceptionCode.DAMAGED, recorded_at=clock.now, by="cs"))) == {}
