"""Every policy number can be changed in settings; what is not changed keeps its default."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from parcelflow.domain.policy import Policy
from parcelflow.domain.vocabulary import CustomerTier, ServiceLevel, Status
from parcelflow.settings import Settings


def test_no_overrides_is_the_default_policy():
    built = Settings(_env_file=None).policy.build()  # type: ignore[call-arg]
    # ... except that settings bring China's holidays into the default calendar (the
    # domain's bare default has none: it reads no package).
    assert replace(built, calendars=Policy().calendars) == Policy()
    assert date(2026, 10, 1) in built.calendars["default"].holidays


def test_overrides_from_json_and_from_one_variable_each(monkeypatch):
    monkeypatch.setenv("PARCELFLOW_POLICY", '{"stall_after": {"economy": "PT96H"}, '
                       '"clocks": {"vip": {"first_response": "PT15M"}}, '
                       '"uninsured_postage_multiple": "5"}')
    policy = Settings(_env_file=None).policy.build()  # type: ignore[call-arg]
    assert policy.stall_after[ServiceLevel.ECONOMY] == timedelta(hours=96)
    assert policy.stall_after[ServiceLevel.STANDARD] == timedelta(hours=48)  # kept
    assert policy.clocks[CustomerTier.VIP].first_response == timedelta(minutes=15)
    assert policy.clocks[CustomerTier.VIP].resolution == timedelta(hours=12)  # kept
    assert policy.uninsured_postage_multiple == Decimal(5)
    monkeypatch.delenv("PARCELFLOW_POLICY")
    monkeypatch.setenv("PARCELFLOW_POLICY__COMPLETE_DELAY", "P10D")
    monkeypatch.setenv("PARCELFLOW_POLICY__STALL_AFTER_STATUS", '{"in_customs": "P5D"}')
    policy = Settings(_env_file=None).policy.build()  # type: ignore[call-arg]
    assert policy.complete_delay == timedelta(days=10)
    assert policy.stall_limit(ServiceLevel.EXPRESS, Status.IN_CUSTOMS) == timedelta(days=5)


def test_a_misspelt_override_is_refused_not_ignored(monkeypatch):
    monkeypatch.setenv("PARCELFLOW_POLICY", '{"complete_dealy": "P10D"}')
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]

