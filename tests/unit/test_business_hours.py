"""Business-time arithmetic against cases worked out by hand with a calendar on the desk.

The service centre below works Monday to Friday 09:00-18:00 in Shanghai (9 hours a
day). Its 2026 holidays are written out here as the State Council published them, not
read from the package (the package is checked against the same dates further down).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from parcelflow.adapters.public_holidays import china
from parcelflow.domain import sla
from parcelflow.domain.business_hours import TeamCalendar, TimeBasis, counted, deadline, office_hours
from parcelflow.domain.errors import DomainError
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import ClockKind, Policy
from parcelflow.domain.vocabulary import (
    CustomerTier,
    ExceptionCode,
    ExceptionStatus,
    Outcome,
    SlaClock,
)
from parcelflow.settings import PolicySettings
from tests.support.builders import sealed_manifest

CST = timezone(timedelta(hours=8))
PST = timezone(timedelta(hours=-8))
H = timedelta(hours=1)

# 2026: National Day and Mid-Autumn Festival, 1-7 October off; Sunday 20 September and
# Saturday 10 October worked instead (调休).
NATIONAL_DAY = frozenset(date(2026, 10, d) for d in range(1, 8))
ADJUSTED = frozenset({date(2026, 9, 20), date(2026, 10, 10)})

SHANGHAI = TeamCalendar("cs", "Asia/Shanghai", office_hours("09:00-18:00"),
                        holidays=NATIONAL_DAY, workdays=ADJUSTED)


def at(*args: int, tz: timezone = CST) -> datetime:
    return datetime(*args, tzinfo=tz)


def test_a_clock_started_late_on_friday_runs_on_monday_morning():
    # Fri 27 Nov 17:00: one hour left that day; Saturday and Sunday do not count.
    assert deadline(at(2026, 11, 27, 17), 2 * H, calendar=SHANGHAI) == at(2026, 11, 30, 10)
    # 24 working hours: Fri 1 + Mon 9 + Tue 9 + Wed 5 -> Wednesday 14:00.
    assert deadline(at(2026, 11, 27, 17), 24 * H, calendar=SHANGHAI) == at(2026, 12, 2, 14)
    # Raised on Saturday: nothing counts until Monday 09:00.
    assert deadline(at(2026, 11, 28, 11), 1 * H, calendar=SHANGHAI) == at(2026, 11, 30, 10)
    assert counted(at(2026, 11, 27, 17), at(2026, 11, 30, 10), calendar=SHANGHAI) == 2 * H


def test_the_national_day_week_stops_the_clock_and_the_adjusted_saturday_counts():
    # Wed 30 Sep 16:00, 24 working hours: 30 Sep 2 h; 1-7 Oct off; Thu 8 Oct 9 h (11);
    # Fri 9 Oct 9 h (20); Sat 10 Oct is worked (调休): 4 h -> Saturday 13:00.
    assert deadline(at(2026, 9, 30, 16), 24 * H, calendar=SHANGHAI) == at(2026, 10, 10, 13)
    # Without the adjusted working day the same clock runs to Monday 12 October 13:00.
    plain = replace(SHANGHAI, workdays=frozenset())
    assert deadline(at(2026, 9, 30, 16), 24 * H, calendar=plain) == at(2026, 10, 12, 13)
    # The Sunday before is worked too: raised Sat 19 Sep, due Sun 20 Sep 10:00.
    assert deadline(at(2026, 9, 19, 12), 1 * H, calendar=SHANGHAI) == at(2026, 9, 20, 10)


def test_a_pause_stops_the_clock_and_a_resume_lets_it_run_on_from_where_it_stood():
    start = at(2026, 11, 30, 9)  # Monday 09:00, 8 working hours: due 17:00 the same day
    assert deadline(start, 8 * H, calendar=SHANGHAI) == at(2026, 11, 30, 17)
    # Waiting on the customer from 11:00 (2 h counted): no due time while it waits.
    waiting = [(at(2026, 11, 30, 11), None)]
    assert deadline(start, 8 * H, calendar=SHANGHAI, pauses=waiting) is None
    # They answer Tuesday 10:00: 6 h left from then -> Tuesday 16:00.
    answered = [(at(2026, 11, 30, 11), at(2026, 12, 1, 10))]
    assert deadline(start, 8 * H, calendar=SHANGHAI, pauses=answered) == at(2026, 12, 1, 16)
    # On calendar time the same pause (23 h) moves the due time by exactly its length.
    assert deadline(start, 8 * H, calendar=None, pauses=answered) == at(2026, 12, 1, 16)
    assert deadline(start, 8 * H, calendar=None, pauses=waiting) is None
    # A pause that begins after the due time was reached moves nothing.
    late = [(at(2026, 11, 30, 17, 30), at(2026, 12, 3, 9))]
    assert deadline(start, 8 * H, calendar=SHANGHAI, pauses=late) == at(2026, 11, 30, 17)


def test_midnight_in_another_time_zone_is_read_in_the_teams_own_zone():
    la = TeamCalendar("us-desk", "America/Los_Angeles", office_hours("09:00-17:00"))
    # Tue 1 Dec 16:00 in Shanghai is midnight in Los Angeles (PST): the desk opens at
    # 09:00 there, so one working hour ends at 10:00 PST = Wed 2 Dec 02:00 in Shanghai.
    assert deadline(at(2026, 12, 1, 16), 1 * H, calendar=la) == at(2026, 12, 2, 2)
    assert deadline(at(2026, 12, 1, 0, tz=PST), 1 * H, calendar=la) == at(2026, 12, 1, 10, tz=PST)
    # Fri 4 Dec 16:00 UTC is Saturday 00:00 in Shanghai: Friday in UTC, the weekend for
    # the Shanghai desk, so the hour is Monday 09:00-10:00 there.
    friday_utc = datetime(2026, 12, 4, 16, tzinfo=timezone.utc)
    assert deadline(friday_utc, 1 * H, calendar=SHANGHAI) == at(2026, 12, 7, 10)
    # 23:59:59 Friday in Shanghai: Friday's hours are over.
    assert deadline(at(2026, 12, 4, 23, 59, 59), 1 * H, calendar=SHANGHAI) == at(2026, 12, 7, 10)


def test_the_package_knows_the_2026_national_day_arrangement():
    holidays, workdays = china()
    assert NATIONAL_DAY <= holidays and ADJUSTED <= workdays
    assert date(2026, 10, 8) not in holidays | workdays  # an ordinary Thursday


def test_settings_overrides_add_a_holiday_and_a_working_day_the_package_does_not_know():
    policy = PolicySettings.model_validate({"calendars": {"default": {
        "extra_holidays": ["2027-01-01"], "extra_workdays": ["2027-01-04"]},
        "hub_ops": {"zone": "Asia/Urumqi", "hours": {"sat": ["10:00-14:00"]},
                    "holidays": "none"}}}).build()
    cs = policy.calendar_for("customer_service")  # no calendar of its own: the default
    assert cs.name == "default" and cs.hours_on(date(2027, 1, 1)) == ()
    assert cs.hours_on(date(2026, 10, 10)) == cs.hours_on(date(2026, 10, 12))  # from the package
    hub = policy.calendar_for("hub_ops")
    assert hub.hours_on(date(2026, 10, 10)) and not hub.hours_on(date(2026, 10, 12))


@pytest.mark.parametrize("given, named", [
    ({"zone": "Mars/Olympus"}, "unknown time zone"),
    ({"hours": {"mon": ["9-18"]}}, "HH:MM-HH:MM"),
    ({"hours": {"mon": ["18:00-09:00"]}}, "later one"),
    ({"hours": {}}, "no weekday has working hours"),
])
def test_a_calendar_settings_cannot_use_is_refused_naming_the_calendar(given, named):
    with pytest.raises(ValueError) as refused:
        PolicySettings.model_validate({"calendars": {"hub_ops": given}})
    assert "policy.calendars.hub_ops" in str(refused.value) and named in str(refused.value)
    assert "Mars" not in str(refused.value)


def test_a_calendar_with_no_working_hour_left_is_an_error_not_a_hang():
    closed = replace(SHANGHAI, workdays=frozenset(), holidays=frozenset(
        date(2026, 1, 1) + timedelta(days=d) for d in range(4 * 366)))
    with pytest.raises(DomainError, match="no working hour"):
        deadline(at(2026, 1, 1, 9), H, calendar=closed)


# ---- on an exception ------------------------------------------------------------------

BUSINESS = replace(Policy(), calendars={"default": SHANGHAI},
                   basis={**Policy().basis, ClockKind.FIRST_RESPONSE: TimeBasis.BUSINESS,
                          ClockKind.RESOLUTION: TimeBasis.BUSINESS})


def raised(at_: datetime) -> tuple[Parcel, str]:
    parcel = Parcel.register(sealed_manifest(), recorded_at=at_ - timedelta(days=2))
    return parcel, parcel.raise_exception(ExceptionCode.ADDRESS_ISSUE, recorded_at=at_, by="cs-1")


def test_an_exception_waiting_on_the_customer_is_never_breached_while_it_waits():
    parcel, exc = raised(at(2026, 11, 27, 17))  # Friday 17:00, customer-facing: 1 h / 24 h
    record = parcel.exceptions[exc]
    due = sla.clocks(record, CustomerTier.STANDARD, BUSINESS)
    assert (due.first_response_due, due.resolution_due) == (at(2026, 11, 27, 18), at(2026, 12, 2, 14))
    assert due.basis == TimeBasis.BUSINESS and due.calendar == "cs"  # the default one
    # On the calendar-time default, the same exception is due Saturday 17:00.
    assert sla.clocks(record, CustomerTier.STANDARD, Policy()).resolution_due == at(2026, 11, 28, 17)

    parcel.acknowledge_exception(exc, by="anna", recorded_at=at(2026, 11, 27, 17, 30))
    # Monday 10:00 (2 h counted: Fri 1 + Mon 1): asked the customer for a new address.
    parcel.await_answer(exc, ExceptionStatus.AWAITING_CUSTOMER, by="anna",
                        recorded_at=at(2026, 11, 30, 10))
    record = parcel.exceptions[exc]
    assert record.status == ExceptionStatus.AWAITING_CUSTOMER and record.is_open
    assert sla.clocks(record, CustomerTier.STANDARD, BUSINESS).resolution_due is None
    # Two weeks of silence: nothing is breached.
    assert parcel.check_sla(BUSINESS, now=at(2026, 12, 14, 12)) == []
    with pytest.raises(DomainError, match="resume it first"):
        parcel.acknowledge_exception(exc, by="anna", recorded_at=at(2026, 12, 1, 9))

    # They answer Mon 14 Dec 09:00: 22 h left -> Mon 9 + Tue 9 + Wed 4 -> Wed 13:00.
    parcel.resume(exc, by="bob", recorded_at=at(2026, 12, 14, 9))
    record = parcel.exceptions[exc]
    assert (record.status, record.assignee) == (ExceptionStatus.ACKNOWLEDGED, "anna")
    due = sla.clocks(record, CustomerTier.STANDARD, BUSINESS).resolution_due
    assert due == at(2026, 12, 16, 13)
    assert parcel.check_sla(BUSINESS, now=at(2026, 12, 16, 12, 30)) == []
    assert parcel.check_sla(BUSINESS, now=at(2026, 12, 16, 14)) == [(exc, SlaClock.RESOLUTION)]
    # Breached once per due time, however often the detector looks.
    assert parcel.check_sla(BUSINESS, now=at(2026, 12, 17, 9)) == []
    with pytest.raises(DomainError, match="not waiting"):
        parcel.resume(exc, by="bob", recorded_at=at(2026, 12, 17, 9))


def test_resolving_while_waiting_ends_the_wait_so_the_clock_is_judged():
    parcel, exc = raised(at(2026, 11, 30, 9))
    parcel.acknowledge_exception(exc, by="anna", recorded_at=at(2026, 11, 30, 9, 10))
    parcel.await_answer(exc, ExceptionStatus.AWAITING_THIRD_PARTY, by="anna",
                        recorded_at=at(2026, 11, 30, 10), reason=None)
    with pytest.raises(DomainError, match="already awaiting_third_party"):
        parcel.await_answer(exc, ExceptionStatus.AWAITING_CUSTOMER, by="anna",
                            recorded_at=at(2026, 11, 30, 11))
    parcel.resolve_exception(exc, Outcome.REDELIVERED, by="anna", recorded_at=at(2026, 12, 9, 9))
    record = parcel.exceptions[exc]
    # 1 h counted before the wait; the wait ended with the resolution: due 23 h later.
    assert record.pauses() == ((at(2026, 11, 30, 10), at(2026, 12, 9, 9)),)
    assert sla.clocks(record, CustomerTier.STANDARD, BUSINESS).resolution_due == at(2026, 12, 11, 14)
    parcel.reopen_exception(exc, reason="not delivered", by="anna", recorded_at=at(2026, 12, 10, 9))
    record = parcel.exceptions[exc]
    assert record.status == ExceptionStatus.ACKNOWLEDGED
    # A fresh 24 h from the reopening, nothing paused after it: Thu 9+Fri 9+Mon 6.
    assert sla.clocks(record, CustomerTier.STANDARD, BUSINESS).resolution_due == at(2026, 12, 14, 15)
