"""Times as parcelflow keeps them: one tzinfo object per offset, and sorted by their
distance from the epoch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcelflow.domain.times import plain_tz, since_epoch, zone


def test_plain_tz_keeps_the_instant_and_the_offset_it_was_given_in():
    for moment in (datetime(2026, 11, 22, 8, 15, 3, tzinfo=timezone(timedelta(hours=8))),
                   datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
                   datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),
                   datetime(2026, 1, 1, tzinfo=timezone.utc)):
        plain = plain_tz(moment)
        assert plain.timestamp() == moment.timestamp()  # (PEP 495: a fold=1 time equals no other zone's)
        assert plain.utcoffset() == moment.utcoffset()
        assert plain.isoformat() == moment.astimezone(timezone(moment.utcoffset())).isoformat()
        assert type(plain.tzinfo) is timezone and plain.fold == 0


def test_equal_offsets_share_one_tzinfo_object():
    a = plain_tz(datetime(2026, 11, 22, 8, tzinfo=timezone(timedelta(hours=8))))
    b = plain_tz(datetime(2026, 11, 23, 9, tzinfo=timezone(timedelta(hours=8))))
    assert a.tzinfo is b.tzinfo
    assert plain_tz(datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))).tzinfo is timezone.utc
    assert plain_tz(a) is a


_MINUTES = st.integers(min_value=-14 * 60, max_value=14 * 60)
# Offsets as the store and the wire give them (the shared object of each) and as anyone
# else may write them (an object of their own, equal to the shared one).
_OFFSETS = st.one_of(_MINUTES.map(lambda minutes: zone(timedelta(minutes=minutes))),
                     _MINUTES.map(lambda minutes: timezone(timedelta(minutes=minutes))))
_ZONES = st.sampled_from([ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"),
                          ZoneInfo("Asia/Shanghai"), UTC])
_MOMENTS = st.builds(lambda naive, tz, fold: naive.replace(tzinfo=tz, fold=fold),
                     st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
                     st.one_of(_OFFSETS, _ZONES), st.integers(0, 1))


@settings(max_examples=400, deadline=None)
@given(st.lists(_MOMENTS, min_size=2, max_size=12))
def test_since_epoch_orders_moments_as_the_datetimes_do(moments):
    # What a timeline sorts by: every pair compares as the aware datetimes compare
    # (by instant, whatever their offsets; DST folds and gaps included), and the
    # value is the instant's distance from the epoch, to the microsecond.
    keys = [since_epoch(m) for m in moments]
    for m, k in zip(moments, keys):
        assert k == m - datetime(1970, 1, 1, tzinfo=UTC)
    for (a, ka), (b, kb) in zip(zip(moments, keys), zip(moments[1:], keys[1:])):
        assert (a < b) == (ka < kb) and (a == b) == (ka == kb)
    assert sorted(range(len(moments)), key=keys.__getitem__) == \
        sorted(range(len(moments)), key=moments.__getitem__)


def test_since_epoch_is_one_value_whichever_tzinfo_object_writes_the_offset():
    # The shared object of +08:00 subtracts its own epoch field by field; an equal
    # timezone of its own (named, too) finds that epoch and subtracts across objects.
    moment = datetime(2026, 11, 22, 8, 30, 15, 250, tzinfo=zone(timedelta(hours=8)))
    same = [moment, moment.replace(tzinfo=timezone(timedelta(hours=8), "CST")),
            moment.replace(tzinfo=timezone(timedelta(hours=8))), moment.astimezone(UTC),
            moment.astimezone(ZoneInfo("Asia/Shanghai"))]
    # 2026-11-22T00:30:15.000250Z: 20,779 days after 1970-01-01, and 30 min 15 s.
    expected = timedelta(days=(date(2026, 11, 22) - date(1970, 1, 1)).days, minutes=30,
                         seconds=15, microseconds=250)
    assert all(since_epoch(m) == expected for m in same)


class _Unhashable(tzinfo):
    """A fixed offset that defines equality without a hash (as dateutil's `tzoffset`)."""

    def __init__(self, offset: timedelta):
        self.offset = offset

    def utcoffset(self, dt):
        return self.offset

    def dst(self, dt):
        return timedelta(0)

    def __eq__(self, other):
        return isinstance(other, _Unhashable) and other.offset == self.offset

    __hash__ = None  # type: ignore[assignment]


def test_since_epoch_of_a_tzinfo_that_cannot_be_a_key_is_exact_and_a_naive_time_is_refused():
    moment = datetime(2026, 11, 22, 8, 30, tzinfo=_Unhashable(timedelta(hours=8)))
    assert since_epoch(moment) == since_epoch(moment.astimezone(UTC))
    with pytest.raises(TypeError):
        since_epoch(datetime(2026, 11, 22, 8, 30))
