"""The queue's clocks in words and colour: "due in 23 min", "breached 2 h ago".

Pure functions of a due time and now, so the words are the same on every page and the
periodic refresh keeps them current (no JavaScript clock that could drift from the
server's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SOON = timedelta(minutes=30)  # due within this: amber


@dataclass(frozen=True)
class ClockWords:
    words: str  # "due in 23 min", "breached 2 h ago"
    state: str  # "ok", "soon", "breached": the colour (a CSS class), never alone


def span(delta: timedelta) -> str:
    """A duration as people say it in a queue: minutes under an hour, hours and minutes
    under two, hours under two days, then days (rounded down: "due in 59 min" is not yet
    an hour)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 120:
        return f"1 h {minutes - 60} min" if minutes > 60 else "1 h"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


def clock_words(due: datetime | None, now: datetime) -> ClockWords | None:
    if due is None:
        return None
    if due > now:
        left = due - now
        return ClockWords(f"due in {span(left)}", "soon" if left <= SOON else "ok")
    return ClockWords(f"breached {span(now - due)} ago", "breached")


def parse_time(value: str | datetime | None) -> datetime | None:
    """A read model's stored time (ISO 8601 text, or a datetime on PostgreSQL)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
