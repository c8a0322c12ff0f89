"""The transit-time model in force at a moment: the latest learned by then, whatever offset
the moment is written in (adapters/transit_models.py, with a store of two versions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from parcelflow.adapters.transit_models import ModelsInForce, ModelVersion
from parcelflow.domain.times import instant
from parcelflow.domain.transit_times import TransitTimes

FIRST = datetime(2026, 11, 20, 3, 0, 0, 250_000, tzinfo=UTC)
SECOND = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # whole seconds: written without a fraction
CST = timezone(timedelta(hours=8))


class TwoVersions:
    """The store's answer for a table of two versions (and how often it was read)."""

    def __init__(self) -> None:
        self.models = [TransitTimes({}, UTC), TransitTimes({}, UTC)]
        self.reads = 0

    def models_after(self, version, zone):  # type: ignore[no-untyped-def]
        self.reads += 1
        rows = [(ModelVersion(v, instant(at), None, None, 0, 0, "test"), model)
                for v, at, model in ((1, FIRST, self.models[0]), (2, SECOND, self.models[1]))]
        return [row for row in rows if row[0].version > version]


def test_the_model_in_force_is_the_latest_learned_by_the_moment_in_any_offset():
    store = TwoVersions()
    models = ModelsInForce(store, UTC, clock=lambda: SECOND + timedelta(days=1))  # type: ignore[arg-type]
    first, second = store.models
    tick = timedelta(microseconds=1)
    for moment, expected in ((FIRST - tick, None), (FIRST, first), (SECOND - tick, first),
                             (SECOND, second), (SECOND + timedelta(days=1), second)):
        for written in (moment, moment.astimezone(CST), moment.astimezone(timezone(timedelta(hours=8)))):
            assert models(written) is expected, (written, expected)
    assert store.reads == 1  # every moment was before the store's clock at the read


def test_a_moment_after_the_last_read_reads_the_table_again_once_the_refresh_is_due():
    store = TwoVersions()
    now = [FIRST + timedelta(hours=1)]
    models = ModelsInForce(store, UTC, clock=lambda: now[0], refresh=0.0)  # type: ignore[arg-type]
    assert models(FIRST) is store.models[0] and store.reads == 1
    assert models(FIRST + timedelta(minutes=30)) is store.models[0] and store.reads == 1
    now[0] = SECOND + timedelta(hours=1)
    assert models(SECOND.astimezone(CST)) is store.models[1] and store.reads == 2
