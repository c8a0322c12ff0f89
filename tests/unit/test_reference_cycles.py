"""A batch's objects are freed when it ends, by reference counting: none of them is left
in a reference cycle for the cyclic collector to find (its collections then traverse
them all, pausing the worker: see `UnitOfWork.run`)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from parcelflow.domain.vocabulary import ExceptionCode
from tests.support.builders import Clock, journey, manifest, tracking
from tests.support.in_memory import in_memory_service


def _ours(thing: Any) -> bool:
    if callable(thing) and hasattr(thing, "__code__"):
        return "parcelflow" in thing.__code__.co_filename
    return type(thing).__module__.startswith("parcelflow")


@pytest.fixture
def left_in_cycles() -> Iterator[Callable[[Callable[[], object]], list[str]]]:
    """Run a step; what of parcelflow's it left that only the cyclic collector frees."""
    was_enabled = gc.isenabled()

    def run(step: Callable[[], object]) -> list[str]:
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what is unreachable is kept in gc.garbage
        try:
            step()
            gc.collect()
            return sorted({type(o).__qualname__ if not callable(o) or not hasattr(o, "__code__")
                           else o.__qualname__ for o in gc.garbage if _ours(o)})
        finally:
            gc.set_debug(0)
            gc.garbage.clear()

    yield run
    if was_enabled:
        gc.enable()


def test_an_ingest_batch_leaves_nothing_in_reference_cycles(left_in_cycles):
    clock = Clock()
    service = in_memory_service(clock, cache_size=100)
    service.register([manifest(n) for n in range(1, 6)])
    service.ingest([journey(n)[0] for n in range(1, 6)])
    batch = [journey(n)[1] for n in range(1, 6)] + [journey(1)[0]]  # and a duplicate
    assert left_in_cycles(lambda: service.ingest(batch)) == []
    # Without the cache (every parcel loaded), and a command by tracking number.
    cold = in_memory_service(clock, cache_size=0)
    cold.register([manifest(7)])
    assert left_in_cycles(lambda: cold.ingest(journey(7)[:3])) == []
    assert left_in_cycles(lambda: cold.command(tracking(7), lambda p: p.raise_exception(
        ExceptionCode.DAMAGED, recorded_at=clock.now, by="cs"))) == []
