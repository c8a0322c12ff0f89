"""The relay lag gauge of a process running one relay per shard: the sum of each relay's
own last backlog (it showed whichever relay reported last)."""

from __future__ import annotations

from parcelflow.consumers.relay import LagSum


class Gauge:
    def __init__(self) -> None:
        self.value: float | None = None

    def set(self, value: float) -> None:
        self.value = value


def test_the_gauge_is_the_sum_of_every_relays_last_backlog():
    gauge = Gauge()
    lags = LagSum(gauge)
    shard_1, shard_2 = object(), object()
    lags.report(shard_1, 120)
    lags.report(shard_2, 30)
    assert gauge.value == 150
    lags.report(shard_1, 0)  # caught up; the other still behind
    assert gauge.value == 30
    lags.report(shard_2, -4)  # a head read before the position moved: no negative backlog
    assert gauge.value == 0
    lags.report(shard_1, 7)
    lags.forget(shard_1)  # a closed relay no longer counts
    assert gauge.value == 0
