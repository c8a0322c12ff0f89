"""China's public holidays and adjusted working days (调休), from `chinesecalendar`.

The State Council publishes each year's arrangement in the autumn before; the package
ships every year from 2004 on and is updated when a new arrangement is published. A
year it does not know yet (or a local arrangement) is given in settings as overrides
(`PARCELFLOW_POLICY__CALENDARS__<team>__EXTRA_HOLIDAYS` / `__EXTRA_WORKDAYS`).
"""

from __future__ import annotations

from datetime import date

import chinese_calendar


def china() -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, adjusted working days) of every year the package knows."""
    return frozenset(chinese_calendar.holidays), frozenset(chinese_calendar.workdays)
