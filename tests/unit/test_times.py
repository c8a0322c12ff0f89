"""Times as parcelflow keeps them: one tzinfo object per offset."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from parcelflow.domain.times import plain_tz


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
