"""Scan wire format v1: every way a scanner can get it wrong, refused with a usable reason."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from parcelflow.wire import scans as wire_scans
from parcelflow.wire.scans import (
    BatchTooLarge,
    Rejected,
    ScanLimits,
    ScanV1,
    validate_scan,
    validate_scans,
)
from parcelflow.wire.tracking_numbers import TrackingNumbers
from tests.support.builders import T0, scan

NOW = T0 + timedelta(hours=3)
GOOD = scan("arrival", "SZX-HUB-01", 2)


def check(item, **limits):
    [result] = validate_scans([item], now=NOW, limits=ScanLimits(**limits))
    return result


def test_a_good_scan_passes_with_its_offset_kept():
    result = check(GOOD)
    assert isinstance(result, ScanV1)
    assert result.occurred_at.utcoffset() == timedelta(hours=8)


BAD = [
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"type": "arival"}, "type: not one of 'pickup', 'arrival'"),
    ({"occurred_at": "2026-11-22T09:00:00"}, "no timezone offset"),
    ({"occurred_at": 1763773200}, "ISO 8601 timestamp string"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": (NOW + timedelta(minutes=6)).isoformat()}, "ahead of the server clock"),
    ({"occurred_at": (NOW - timedelta(days=31)).isoformat()}, "31 days old"),
    ({"note": "x" * 501}, "note: longer than 500 characters"),
    ({"note": "left at door\x00"}, "note: must not contain control characters (found U+0000)"),
    ({"type": "delivered", "signed_by": "Li\x1b[2J"}, "signed_by: must not contain control"),
    ({"device_id": "d" * 65}, "device_id: longer than 64"),
    ({"tracking_no": "pf-1"}, "tracking_no: not in an accepted tracking-number format "
                              "(^[A-Z]{2}[0-9]{15}$)"),
    ({"facility": ""}, "facility"),
    ({"next_facility": "SHA-HUB-02"}, "next_facility is only allowed on type departure, sort"),
    ({"type": "exception"}, "exception_code is required on type exception"),
    ({"type": "exception", "exception_code": "misdirected"}, "derived by the system"),
    ({"type": "exception", "exception_code": "stolen"}, "exception_code: not one of 'damaged'"),
    ({"type": "delivery_attempt"}, "attempt_reason is required"),
    ({"type": "delivery_attempt", "attempt_reason": "damaged"}, "attempt_reason must be one of"),
    ({"type": "delivered"}, "signed_by is required on type delivered"),
    ({"attempt_reason": "refused"}, "attempt_reason is only allowed on type delivery_attempt"),
]


@pytest.mark.parametrize(("change", "reason"), BAD)
def test_bad_scans_are_rejected_with_a_reason_a_vendor_can_act_on(change, reason):
    result = check({**GOOD, **change})
    assert isinstance(result, Rejected)
    assert reason in result.reason
    assert result.scan_id == GOOD["scan_id"]


def test_missing_fields_are_named():
    item = {k: v for k, v in GOOD.items() if k not in ("facility", "device_id")}
    result = check(item)
    assert "facility: required field is missing" in result.reason
    assert "device_id: required field is missing" in result.reason


def test_a_departure_may_omit_next_facility():
    assert isinstance(check({**GOOD, "type": "departure"}), ScanV1)


def test_the_clock_window_is_configurable():
    ahead = {**GOOD, "occurred_at": (NOW + timedelta(minutes=20)).isoformat()}
    assert isinstance(check(ahead), Rejected)
    assert isinstance(check(ahead, max_future=timedelta(minutes=30)), ScanV1)


def test_items_that_are_not_objects_are_rejected_one_by_one():
    results = validate_scans([GOOD, "scan", None, 7], now=NOW)
    assert isinstance(results[0], ScanV1)
    assert all(isinstance(r, Rejected) and "JSON object" in r.reason for r in results[1:])


def test_batches_over_the_limit_are_refused_whole():
    with pytest.raises(BatchTooLarge, match="1001 items; at most 1000"):
        validate_scans([GOOD] * 1001, now=NOW)


def test_a_batch_with_bad_items_among_good_ones_answers_each_on_its_own():
    late = scan("arrival", "SZX-HUB-01", 2, n=3) | {"occurred_at": "2026-11-22T08:15:03"}
    wrong_type = scan("sort", "SZX-HUB-01", 3, n=4) | {"attempt_reason": "recipient_absent"}
    batch = [GOOD, late, scan("sort", "SZX-HUB-01", 3, n=2), wrong_type]
    results = validate_scans(batch, now=NOW)
    assert isinstance(results[0], ScanV1) and isinstance(results[2], ScanV1)
    assert isinstance(results[1], Rejected) and "timezone offset" in results[1].reason
    assert isinstance(results[3], Rejected) and "attempt_reason is only allowed" in results[3].reason
    assert results[1].scan_id == late["scan_id"] and results[3].scan_id == wrong_type["scan_id"]
    # A good batch comes back the same, validated in one call.
    good = [GOOD, scan("sort", "SZX-HUB-01", 3, n=2)]
    assert validate_scans(good, now=NOW) == [check(item) for item in good]


def _functions(schema) -> list:
    found = []
    if isinstance(schema, dict):
        if callable(schema.get("function")):
            found.append(schema["function"])
        for value in schema.values():
            found += _functions(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _functions(value)
    return found


def test_a_batch_is_validated_by_scanv1s_schema_less_the_two_callbacks_checked_after():
    from parcelflow.wire.common import _accepted_tracking_no

    ours = wire_scans._without_callbacks(ScanV1.__pydantic_core_schema__)
    all_of_them = _functions(ScanV1.__pydantic_core_schema__)
    assert _functions(ours) == [f for f in all_of_them if f not in (
        ScanV1.__dict__["_fits_its_type"], _accepted_tracking_no)]
    assert len(_functions(ours)) == len(all_of_them) - 2
    assert ours["cls"] is ScanV1  # real ScanV1 objects come out
    with pytest.raises(RuntimeError):  # any other shape is refused, not half stripped
        wire_scans._without_callbacks(ours)


@pytest.mark.parametrize(("change", "reason"), BAD)
def test_a_batch_answers_every_item_as_scanv1_alone_answers_it(change, reason):
    batch = [GOOD, {**GOOD, **change}, scan("sort", "SZX-HUB-01", 3, n=2)]
    limits = ScanLimits()
    alone = [validate_scan(item, now=NOW, limits=limits) for item in batch]
    assert validate_scans(batch, now=NOW, limits=limits) == alone
    assert isinstance(alone[1], Rejected) and reason in alone[1].reason


@pytest.mark.parametrize("offset", [
    timedelta(minutes=5), timedelta(minutes=5, microseconds=1),
    -timedelta(days=30), -timedelta(days=30, microseconds=1),
])
def test_the_batchs_clock_window_ends_where_scanv1s_ends(offset):
    at = NOW + offset
    for when in (at, at.astimezone(timezone.utc)):  # the server's offset, or another
        item = {**GOOD, "occurred_at": when.isoformat()}
        assert validate_scans([item], now=NOW) == [validate_scan(item, now=NOW,
                                                                 limits=ScanLimits())]
        inside = abs(offset) in (timedelta(minutes=5), timedelta(days=30))
        assert isinstance(validate_scans([item], now=NOW)[0], ScanV1) == inside
        # and the one pass says so itself (no item-by-item validation on the edge)
        shaped = wire_scans._BATCH.validate_python([item])
        assert wire_scans._all_fit(shaped, NOW, ScanLimits()) == inside


@pytest.mark.parametrize("formats", [
    ("^[A-Z]{2}[0-9]{15}$",), ("s10",), ("s10", "^[A-Z]{2}[0-9]{15}$"),
    ("^[A-Z]{2}[0-9]{15}$", "^JD[0-9]{10}$"), ("[0-9]{3}",),
])
def test_the_batchs_tracking_number_check_is_the_formats_own(formats):
    numbers = TrackingNumbers(formats)
    matcher = numbers.matcher()
    for value in ["PF202611220000001", "pf202611220000001", "RR123456785CN", "RR123456784CN",
                  "JD0123456789", "123", "1234", "PF202611220000001\n", "", "X" * 40]:
        assert bool(matcher(value)) == numbers.matches(value) == (numbers.problem(value) is None)
        item = {**GOOD, "tracking_no": value}
        limits = ScanLimits(tracking_numbers=numbers)
        assert validate_scans([item], now=NOW, limits=limits) == [
            validate_scan(item, now=NOW, limits=limits)]
