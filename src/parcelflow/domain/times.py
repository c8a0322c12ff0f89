"""Times as parcelflow writes them down.

Events keep the offset a time was given with (a scanner's local time); the store reads
every aware datetime back with a fixed-offset tzinfo, so the domain is handed those,
and the read models and their SQL compare times as UTC ISO 8601 strings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo


def instant(moment: datetime) -> str:
    """A time as the read models store it (UTC ISO 8601): equal strings for equal
    instants, so SQL can compare them and match occurrence keys built from them."""
    return moment.astimezone(timezone.utc).isoformat()


# One tzinfo object per offset. Two aware datetimes with the very same tzinfo compare
# (and subtract) field by field; with two different tzinfo objects, even of the same
# offset, CPython asks both for their utcoffset and subtracts them first. The ingest
# path sorts and compares every scan's time against the parcel's others: with one
# object per offset that was ~20,000 of a scan's ~450,000 instructions (callgrind).
_ZONES: dict[timedelta, timezone] = {timedelta(0): timezone.utc}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Each shared tzinfo (and only those) -> the epoch written in it: see `since_epoch`.
EPOCHS: dict[tzinfo, datetime] = {UTC: EPOCH}


def zone(offset: timedelta) -> timezone:
    """The shared fixed-offset tzinfo for `offset` (equal to `timezone(offset)`)."""
    found = _ZONES.get(offset)
    if found is None:
        found = _ZONES.setdefault(offset, timezone(offset))
        EPOCHS.setdefault(found, EPOCH.astimezone(found))
    return found


def since_epoch(moment: datetime) -> timedelta:
    """How long after 1970-01-01 UTC `moment` is: what a timeline sorts its entries by.

    It orders exactly as the aware datetimes do (they compare by instant, whatever
    their offsets; equal instants stay equal), but a timeline mixes offsets (local
    scans, UTC paperwork and staff facts), and comparing two datetimes with different
    tzinfo objects asks both for their utcoffset and subtracts: 1.3 us against 0.05
    with the same one (timeit). Timedeltas compare field by field.

    It subtracts the epoch as written in the moment's offset (`EPOCHS`), which for a
    moment with the shared tzinfo of its offset (`zone`: what the store and the wire
    give the domain) is field by field, 0.1 us (`astimezone(utc)` is 0.9). Any other
    tzinfo (an equal `timezone` of its own, a zoneinfo zone) finds another object's
    epoch or none, and is subtracted across zones: slower, and as exact (CPython
    subtracts aware datetimes by instant). So is one that cannot be a key at all
    (dateutil's `tzoffset` and `tzutc` define `__eq__` without `__hash__`)."""
    try:
        return moment - EPOCHS.get(moment.tzinfo, EPOCH)
    except TypeError:  # an unhashable tzinfo; a naive moment raises again, as it should
        return moment - EPOCH


def plain_tz(moment: datetime) -> datetime:
    """The same instant with a stdlib fixed-offset tzinfo (what the store reads back),
    the one shared object of its offset (`zone`)."""
    offset = moment.utcoffset()
    assert offset is not None, "naive datetimes never reach the domain"
    # astimezone returns `moment` itself when its tzinfo is already that object; it
    # costs half of `replace(tzinfo=...)`, whose keyword parsing is slow (timeit).
    return moment.astimezone(zone(offset))
