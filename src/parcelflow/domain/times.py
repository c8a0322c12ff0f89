"""Times as parcelflow writes them down.

Events keep the offset a time was given with (a scanner's local time); the store reads
every aware datetime back with a fixed-offset tzinfo, so the domain is handed those,
and the read models and their SQL compare times as UTC ISO 8601 strings.
"""

from __future__ import annotations

from datetime import datetime, timezone


def instant(moment: datetime) -> str:
    """A time as the read models store it (UTC ISO 8601): equal strings for equal
    instants, so SQL can compare them and match occurrence keys built from them."""
    return moment.astimezone(timezone.utc).isoformat()


def plain_tz(moment: datetime) -> datetime:
    """The same instant with a stdlib fixed-offset tzinfo (what the store reads back)."""
    offset = moment.utcoffset()
    assert offset is not None, "naive datetimes never reach the domain"
    return moment.astimezone(timezone(offset))
