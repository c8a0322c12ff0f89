"""Business time: a team's working calendar, and clocks that count only its working hours
and stop while the case waits on someone else.

A `TeamCalendar` is a time zone, the working hours of each weekday, the public holidays
and the adjusted working days China moves around them (调休: a Saturday or Sunday worked
so that a holiday week is whole). Where those dates come from (a maintained package, the
settings' overrides) is the adapters' business; here they are plain sets of dates, so the
arithmetic is pure and its tests are hand-computed cases.

A clock counts from its start through the periods that count — every instant for a clock
on calendar time, the calendar's working hours for one on business time — minus the
pauses (waiting on the customer or a third party). `deadline` is the instant the window
is used up; while a pause is still open before that, there is none yet.

Hand-written rather than taken from a library: the business-hours packages on PyPI
(`businesstimedelta`, `business-calendar`) know neither per-team zones nor pauses, and
the walk below is short enough to read whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from parcelflow.domain.errors import DomainError
from parcelflow.domain.vocabulary import Term

DAY_MINUTES = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far a deadline is looked for: a calendar whose holidays leave no working hour in
# this long is a configuration mistake, not a reason to loop for ever.
_HORIZON_DAYS = 3 * 366


class TimeBasis(Term):
    """What a clock counts."""

    CALENDAR = "calendar"  # every hour of the day, every day
    BUSINESS = "business"  # the team's working hours only


@dataclass(frozen=True, order=True)
class Span:
    """Working hours within one local day, in minutes after midnight (end up to 24:00)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_MINUTES:
            raise DomainError("working hours run from a time to a later one within the day "
                              "(00:00 to 24:00)")

    @classmethod
    def parse(cls, text: str) -> Span:
        """'09:00-18:00'."""
        try:
            first, last = (part.strip() for part in text.split("-"))
            start, end = _minutes(first), _minutes(last)
        except ValueError:
            raise DomainError("working hours are written HH:MM-HH:MM") from None
        return cls(start, end)

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(text)
    return h * 60 + m


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def office_hours(*spans: str, days: Iterable[str] = WEEKDAYS[:5]) -> dict[str, tuple[Span, ...]]:
    """The same hours on each of `days` (Monday to Friday by default), none on the rest."""
    chosen = set(days)
    return {day: tuple(Span.parse(s) for s in spans) if day in chosen else ()
            for day in WEEKDAYS}


@dataclass(frozen=True)
class TeamCalendar:
    name: str
    zone: str  # IANA time zone the working hours are read in
    weekly: dict[str, tuple[Span, ...]]  # "mon" .. "sun"
    holidays: frozenset[date] = frozenset()
    # Adjusted working days (调休): worked whatever the weekday says, with `workday_hours`.
    workdays: frozenset[date] = frozenset()
    workday_hours: tuple[Span, ...] = ()  # () : the first working weekday's hours
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if set(self.weekly) != set(WEEKDAYS):
            raise DomainError(f"calendar {self.name}: give the hours of every weekday "
                              f"({', '.join(WEEKDAYS)}; an empty list for a day off)")
        if not any(self.weekly.values()):
            raise DomainError(f"calendar {self.name}: no weekday has working hours")
        try:
            object.__setattr__(self, "_tz", ZoneInfo(self.zone))
        except (KeyError, ValueError):
            raise DomainError(f"calendar {self.name}: unknown time zone") from None
        for spans in (*self.weekly.values(), self.workday_hours):
            ordered = sorted(spans)
            if any(a.end > b.start for a, b in zip(ordered, ordered[1:])):
                raise DomainError(f"calendar {self.name}: working hours overlap")

    def hours_on(self, day: date) -> tuple[Span, ...]:
        """The working hours of one local date."""
        if day in self.workdays:
            return self.workday_hours or next(s for s in (self.weekly[d] for d in WEEKDAYS) if s)
        if day in self.holidays:
            return ()
        return self.weekly[WEEKDAYS[day.weekday()]]

    def is_working(self, moment: datetime) -> bool:
        local = moment.astimezone(self._tz)
        minute = local.hour * 60 + local.minute
        return any(s.start <= minute < s.end for s in self.hours_on(local.date()))

    def periods(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working periods from `start` on (the first clipped to it), in UTC."""
        day = start.astimezone(self._tz).date()
        for _ in range(_HORIZON_DAYS):
            for span in sorted(self.hours_on(day)):
                a, b = self._instant(day, span.start), self._instant(day, span.end)
                if b > start:
                    yield max(a, start), b
            day += timedelta(days=1)
        raise DomainError(f"calendar {self.name}: no working hour within "
                          f"{_HORIZON_DAYS} days")

    def _instant(self, day: date, minutes: int) -> datetime:
        # Aware arithmetic in one zone is wall-clock arithmetic, so 24:00 is the next
        # day's midnight and a working day across a daylight-saving change keeps its hours.
        local = datetime.combine(day, time(), tzinfo=self._tz) + timedelta(minutes=minutes)
        return local.astimezone(timezone.utc)


Pause = tuple[datetime, "datetime | None"]  # (since, until); until None: still waiting

_FOREVER = datetime.max.replace(tzinfo=timezone.utc)


def _counting(start: datetime, calendar: TeamCalendar | None) -> Iterator[tuple[datetime, datetime]]:
    if calendar is None:
        yield start, _FOREVER
    else:
        yield from calendar.periods(start)


def _without(periods: Iterable[tuple[datetime, datetime]],
             pauses: Sequence[Pause]) -> Iterator[tuple[datetime, datetime]]:
    """`periods` with the paused stretches cut out; ends where an open pause begins."""
    ordered = sorted(pauses, key=lambda p: p[0])
    for a, b in periods:
        for since, until in ordered:
            if until is not None and until <= a:
                continue
            if since >= b:
                break
            if since > a:
                yield a, since
            if until is None:
                return
            a = until
            if a >= b:
                break
        if a < b:
            yield a, b


def deadline(start: datetime, window: timedelta, *, calendar: TeamCalendar | None,
             pauses: Sequence[Pause] = ()) -> datetime | None:
    """When a clock started at `start` has counted `window`: through every instant
    (`calendar` None) or through the calendar's working hours, paused stretches left out.
    None while the clock stands in an open pause (it has no due time until it resumes)."""
    remaining = window
    for a, b in _without(_counting(start, calendar), pauses):
        if b - a >= remaining:
            return a + remaining
        remaining -= b - a
    return None


def counted(start: datetime, end: datetime, *, calendar: TeamCalendar | None,
            pauses: Sequence[Pause] = ()) -> timedelta:
    """How much of the stretch from `start` to `end` a clock counts."""
    total = timedelta()
    if end <= start:
        return total
    for a, b in _without(_counting(start, calendar), pauses):
        if a >= end:
            break
        total += min(b, end) - a
    return total
