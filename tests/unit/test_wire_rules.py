"""The rules every wire format shares: timestamps, money, tracking numbers, and reasons
that name the field and the rule but never the value."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from parcelflow.settings import Settings
from parcelflow.wire.common import parse_money, parse_timestamp
from parcelflow.wire.manifests import RejectedManifest, validate_manifest
from parcelflow.wire.scans import Rejected, ScanLimits, validate_scans
from parcelflow.wire.tracking_numbers import TrackingNumbers, s10_check_digit
from tests.support.builders import T0, manifest, scan

NOW = T0 + timedelta(hours=3)
GOOD = scan("arrival", "SZX-HUB-01", 2)


@pytest.mark.parametrize("text", [
    "2026-11-22T08:15:03+08:00", "2026-11-22T00:15:03Z", "2026-11-22 08:15:03.5+08:00",
    "2026-11-22T08:15:03.123456789+08:00",  # nanoseconds (Go's RFC3339Nano): to microseconds
])
def test_iso_timestamps_with_an_offset_are_read(text):
    moment = parse_timestamp(text)
    assert moment.astimezone(timezone.utc).date().isoformat() == "2026-11-22"


def test_a_timestamp_is_read_with_the_one_shared_tzinfo_of_its_offset():
    # What the ingest relies on: a ScanV1's occurred_at needs no plain_tz, and the clock
    # check and the timeline compare it field by field with times of its offset.
    from zoneinfo import ZoneInfo

    from parcelflow.domain.times import plain_tz, zone
    from parcelflow.wire.scans import ScanV1

    given = ["2026-11-22T08:15:03+08:00", "2026-11-22T00:15:03Z", "2026-11-22T00:15:03+00:00",
             "2026-11-22 08:15:03.5+0800", "2026-11-22t04:45:03-03:30",
             "2026-11-22T08:15:03+0800", "2026-11-22T00:15:03z", "2026-11-22T00:15:03-00:00",
             datetime(2026, 11, 22, 8, 15, 3, tzinfo=timezone(timedelta(hours=8))),
             datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin"))]
    for value in given * 2:  # the second time, the offset's tzinfo as remembered
        moment = parse_timestamp(value)
        assert moment.tzinfo is zone(moment.utcoffset())
        assert moment == plain_tz(moment) and moment.isoformat() == plain_tz(moment).isoformat()
        if isinstance(value, datetime):
            assert moment.timestamp() == value.timestamp()  # (PEP 495: a fold=1 time equals no
            assert moment.utcoffset() == value.utcoffset()  # other zone's, as test_times says)
        scan_at = ScanV1.model_validate({**GOOD, "occurred_at": value}).occurred_at
        assert scan_at.tzinfo is zone(scan_at.utcoffset()) and scan_at == moment


@pytest.mark.parametrize(("text", "rule"), [
    ("1796107516", "ISO 8601 timestamp string"),  # epoch seconds, as a string
    ("1796107516000", "ISO 8601 timestamp string"),  # epoch milliseconds
    ("9999-12-31T23:59:59-23:59", "year must be from 2000 to 2099"),  # overflows in UTC
    ("0001-01-01T00:00:00+23:59", "year must be from 2000 to 2099"),
    ("1970-01-01T00:00:00Z", "year must be from 2000 to 2099"),
    ("2100-01-01T00:00:00Z", "year must be from 2000 to 2099"),
    ("2026-11-23T09:00:00", "no timezone offset"),
    ("2026-13-22T08:15:03Z", "not a valid date"),
    ("2026-11-22T08:15:03+24:00", "not a valid date"),
    ("0.5", "ISO 8601 timestamp string"),
    ("２０２６-11-22T08:15:03Z", "ISO 8601 timestamp string"),  # full-width digits
])
def test_anything_else_is_refused_by_a_rule_that_does_not_repeat_it(text, rule):
    with pytest.raises(ValueError) as refused:
        parse_timestamp(text)
    assert rule in str(refused.value) and text not in str(refused.value)


def test_the_window_is_on_the_date_as_written():
    assert parse_timestamp("2000-01-01T00:00:00Z") == datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert parse_timestamp("2000-01-01T07:00:00+08:00").year == 2000  # 1999 in UTC
    assert parse_timestamp("2099-12-31T23:59:59-12:00").year == 2099  # 2100 in UTC
    with pytest.raises(ValueError, match="2000 to 2099"):
        parse_timestamp(datetime(1999, 12, 31, 23, tzinfo=timezone.utc))


@pytest.mark.parametrize(("text", "rule"), [
    ("1E+400000", "at most 12 digits before the point and 2 after"),
    ("1" * 13, "at most 12 digits"),
    ("18.001", "at most 2 decimal places"),
    ("-1.00", "non-negative"),
    ("NaN", "decimal string"), ("Infinity", "decimal string"), (" 18", "decimal string"),
    (18.0, "decimal string"),
])
def test_money_is_bounded_in_digits_and_scale(text, rule):
    with pytest.raises(ValueError, match=rule):
        parse_money(text)


def test_the_largest_money_is_plain_arithmetic():
    assert parse_money("999999999999.99") * 3 == Decimal("2999999999999.97")


# UPU S10 check digits, worked by hand: weights 8 6 4 2 3 5 9 7 over the eight serial
# digits, then 11 - (sum mod 11), with 10 -> 0 and 11 -> 5.
#   47312482: 4*8+7*6+3*4+1*2+2*3+4*5+8*9+2*7 = 200; 200 mod 11 = 2; 11-2 = 9
#             (AA473124829GB, the example the S10 standard's readers are shown)
#   12345678: 8+12+12+8+15+30+63+56 = 204; 204 mod 11 = 6; 11-6 = 5 (RR123456785CN)
#   00300000: 3*4 = 12; 12 mod 11 = 1; 11-1 = 10 -> 0 (EE003000000CN)
#   00100001: 1*4+1*7 = 11; 11 mod 11 = 0; 11-0 = 11 -> 5 (CP001000015DE)
@pytest.mark.parametrize(("serial", "digit"), [
    ("47312482", 9), ("12345678", 5), ("00300000", 0), ("00100001", 5)])
def test_the_s10_check_digit(serial, digit):
    assert s10_check_digit(serial) == digit


def test_s10_numbers_are_accepted_only_with_their_check_digit():
    formats = TrackingNumbers(["s10"])
    for good in ("AA473124829GB", "RR123456785CN", "EE003000000CN", "CP001000015DE"):
        assert formats.problem(good) is None, good
    assert "check digit" in formats.problem("AA473124828GB")
    assert "format" in formats.problem("PF202611220000001")  # not configured
    both = TrackingNumbers(["^[A-Z]{2}[0-9]{15}$", "s10"])
    assert both.problem("PF202611220000001") is None and both.problem("RR123456785CN") is None


def test_the_formats_are_one_setting(monkeypatch):
    monkeypatch.setenv("PARCELFLOW_TRACKING_NUMBER_PATTERNS", '["s10", "^JD[0-9]{13}$"]')
    formats = Settings(_env_file=None).tracking_numbers()  # type: ignore[call-arg]
    assert formats.problem("JD0123456789012") is None
    assert formats.problem("RR123456785CN") is None
    monkeypatch.setenv("PARCELFLOW_TRACKING_NUMBER_PATTERNS", '["(unclosed"]')
    with pytest.raises(ValueError, match="format 1 is not a regular expression"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_configured_format_reaches_the_wire():
    limits = ScanLimits(tracking_numbers=TrackingNumbers(["s10"]))
    s10 = {**GOOD, "tracking_no": "RR123456785CN"}
    pf, wrong = {**GOOD}, {**GOOD, "tracking_no": "RR123456784CN"}
    results = validate_scans([s10, pf, wrong], now=NOW, limits=limits)
    assert not isinstance(results[0], Rejected)
    assert isinstance(results[1], Rejected) and isinstance(results[2], Rejected)
    assert "check digit" in results[2].reason


def test_unknown_cities_are_refused_when_the_network_is_known():
    result = validate_manifest(manifest(origin="XYZ"), cities={"SZX", "SHA"})
    assert isinstance(result, RejectedManifest)
    assert "origin: not a city of the network" in result.reason
    assert not isinstance(validate_manifest(manifest(), cities={"SZX", "SHA"}),
                          RejectedManifest)


def test_a_reason_never_repeats_a_value_nor_a_field_name_that_could_be_data():
    item = {**GOOD, "operator_id": "13812345678 张三", "13987654321 李华": "x", "colour": "red",
            "scan_id": "scan 13812345678"}
    [result] = validate_scans([item], now=NOW)
    assert isinstance(result, Rejected)
    for secret in ("1381234", "张三", "1398765", "李华"):
        assert secret not in result.reason
    assert "operator_id: not in the expected format" in result.reason
    assert "unknown fields 'colour' and 1 more" in result.reason
    assert result.scan_id is None  # not an identifier: not echoed either


def test_a_reason_is_bounded_whatever_the_item():
    item = {**GOOD, **{f"field_{n}": n for n in range(5000)}}
    [result] = validate_scans([item], now=NOW)
    assert isinstance(result, Rejected)
    assert len(result.reason) < 200
    assert "'field_0', 'field_1', 'field_2', 'field_3', 'field_4' and 4995 more" in result.reason
    many = {k: 1 for k in GOOD} | {"note": 2, "signed_by": 3, "operator_id": 4}
    [result] = validate_scans([many], now=NOW)
    assert "more problems" in result.reason and len(result.reason) <= 1000
