"""Scan wire format v1: the public contract with scanner vendors.

Strict on purpose. An unknown field, an unknown value, a timestamp without an offset or
far from the server clock is refused with a reason the vendor can act on, one item at a
time: a bad scan never costs the good ones beside it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import SchemaValidator, core_schema

from parcelflow.domain.vocabulary import (
    ATTEMPT_REASONS,
    SCAN_RULES,
    SCANNABLE_EXCEPTION_CODES,
    TYPE_SPECIFIC_FIELDS,
    ExceptionCode,
    ScanType,
)
from parcelflow.wire.common import (
    FacilityCode,
    Identifier,
    Timestamp,
    TrackingNo,
    _accepted_tracking_no,
    text,
)
from parcelflow.wire.reasons import known_key, reason
from parcelflow.wire.tracking_numbers import DEFAULT, TrackingNumbers

MAX_NOTE_LENGTH = 500
MAX_BATCH = 1000


@dataclass(frozen=True)
class ScanLimits:
    """How far from the server clock a scan's `occurred_at` may be, how many scans a
    batch may hold, and which tracking numbers are accepted."""

    max_future: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=30)
    max_batch: int = MAX_BATCH
    tracking_numbers: TrackingNumbers = DEFAULT


# Fields that belong to some scan types only (the vocabulary's scan rules); anywhere
# else they are a vendor bug.
_ONLY_ON = {
    name: frozenset(t for t, rule in SCAN_RULES.items() if name in rule.carries)
    for name in TYPE_SPECIFIC_FIELDS
}
_REQUIRED_ON = {t: rule.requires for t, rule in SCAN_RULES.items() if rule.requires}
# Per type: the type-specific fields it may not carry, each with the types that may
# (in _ONLY_ON's order, which is the order the problems are reported in).
_NOT_ON = {
    t: tuple((name, ", ".join(sorted(types))) for name, types in _ONLY_ON.items()
             if t not in types)
    for t in ScanType
}


class ScanV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scan_id: Identifier
    tracking_no: TrackingNo
    type: ScanType
    occurred_at: Timestamp
    facility: FacilityCode
    device_id: Identifier
    operator_id: Identifier | None = None
    next_facility: FacilityCode | None = None
    exception_code: ExceptionCode | None = None
    attempt_reason: ExceptionCode | None = None
    signed_by: text(64) | None = None  # type: ignore[valid-type]
    note: text(MAX_NOTE_LENGTH) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _fits_its_type(self, info: ValidationInfo) -> ScanV1:
        problems = _type_problems(self.__dict__)
        problems += _clock_problems(self.occurred_at, info.context or {})
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _type_problems(fields: dict[str, Any]) -> list[str]:
    """What a scan carries that its type does not allow, or lacks."""
    scan_type = fields["type"]
    problems = [f"{name} is only allowed on type {allowed}"
                for name, allowed in _NOT_ON[scan_type] if fields[name] is not None]
    required = _REQUIRED_ON.get(scan_type)
    if required and fields[required] is None:
        problems.append(f"{required} is required on type {scan_type}")
    code, attempt_reason = fields["exception_code"], fields["attempt_reason"]
    if code is not None and code not in SCANNABLE_EXCEPTION_CODES:
        problems.append(
            f"exception_code {code} is derived by the system, "
            f"not scanned; use one of {', '.join(sorted(SCANNABLE_EXCEPTION_CODES))}"
        )
    if attempt_reason is not None and attempt_reason not in ATTEMPT_REASONS:
        problems.append(f"attempt_reason must be one of {', '.join(sorted(ATTEMPT_REASONS))}")
    return problems


def _clock_problems(occurred_at: datetime, context: dict[str, Any]) -> list[str]:
    now: datetime | None = context.get("now")
    limits: ScanLimits = context.get("limits") or ScanLimits()
    if now is None:
        return []
    ahead = occurred_at - now
    if ahead > limits.max_future:
        return [
            f"occurred_at is {_span(ahead)} ahead of the server clock (limit "
            f"{_span(limits.max_future)}); check the scanner's clock"
        ]
    if now - occurred_at > limits.max_age:
        return [
            f"occurred_at is {_span(now - occurred_at)} old (limit {_span(limits.max_age)})"
        ]
    return []


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


@dataclass(frozen=True)
class Rejected:
    reason: str
    scan_id: str | None = None


class BatchTooLarge(ValueError):
    def __init__(self, size: int, limit: int):
        super().__init__(f"batch has {size} items; at most {limit} are accepted per batch")
        self.size, self.limit = size, limit


def validate_scan(item: Any, *, now: datetime, limits: ScanLimits,
                  context: dict[str, Any] | None = None) -> ScanV1 | Rejected:
    if not isinstance(item, dict):
        return Rejected("item must be a JSON object")
    if context is None:
        context = _context(now, limits)
    try:
        return ScanV1.model_validate(item, context=context)
    except ValidationError as e:
        return Rejected(reason(e), known_key(item, "scan_id"))


def validate_scans(
    items: Sequence[Any], *, now: datetime, limits: ScanLimits = ScanLimits()
) -> list[ScanV1 | Rejected]:
    if len(items) > limits.max_batch:
        raise BatchTooLarge(len(items), limits.max_batch)
    context = _context(now, limits)  # one for the batch: the validators only read it
    if all(isinstance(item, dict) for item in items):
        # The whole batch in one call into pydantic: ScanV1's schema without its two
        # Python callbacks (the tracking-number check, `_fits_its_type`), whose rules
        # are then checked in one pass over the batch (`_all_fit`; ~10,000 instructions
        # an item as callbacks). Any bad item fails the call or the pass; then every
        # item is validated on its own by ScanV1 itself, so that each bad one gets its
        # own reason, naming its field, and its neighbours are kept.
        try:
            scans: list[ScanV1] = _BATCH.validate_python(items)
        except ValidationError:
            pass
        else:
            if _all_fit(scans, now, limits):
                return scans  # type: ignore[return-value]
    return [validate_scan(item, now=now, limits=limits, context=context) for item in items]


def _all_fit(scans: list[ScanV1], now: datetime | None, limits: ScanLimits) -> bool:
    """Whether every scan keeps the rules of ScanV1's callbacks (`_accepted_tracking_no`,
    `_fits_its_type` with `_clock_problems`): True exactly when each would pass them
    (tests/unit/test_wire_scans.py checks every rule both ways)."""
    accepted = limits.tracking_numbers.matcher()
    # ahead > max_future and age > max_age, as instants: exact in microseconds. The
    # window's ends in each scan's own tzinfo (one shared object per offset, as
    # parse_timestamp gives them): two datetimes of one tzinfo object compare field by
    # field, of two they first ask both for their offsets (~30 times the cost, timeit).
    window: dict[Any, tuple[datetime, datetime]] = {}
    for scan in scans:
        fields = scan.__dict__
        if not accepted(fields["tracking_no"]):
            return False
        if _type_problems(fields):
            return False
        if now is not None:
            occurred_at = fields["occurred_at"]
            tz = occurred_at.tzinfo
            ends = window.get(tz)
            if ends is None:
                ends = window[tz] = ((now - limits.max_age).astimezone(tz),
                                     (now + limits.max_future).astimezone(tz))
            if not ends[0] <= occurred_at <= ends[1]:
                return False
    return True


def _without_callbacks(schema: Any) -> Any:
    """ScanV1's core schema without `_fits_its_type` around the model and
    `_accepted_tracking_no` after the tracking number's own (str, max_length) schema;
    everything else as pydantic made it (the same model class, fields, config). Refuses
    a schema of any other shape (another pydantic, a changed ScanV1) at import."""
    model = copy.deepcopy(schema.get("schema", {}))
    field = model.get("schema", {}).get("fields", {}).get("tracking_no", {}).get("schema", {})
    if (schema["type"] != "function-after" or model.get("cls") is not ScanV1
            or schema["function"].get("function") is not ScanV1.__dict__["_fits_its_type"]
            or field.get("type") != "function-after"
            or field["function"].get("function") is not _accepted_tracking_no):
        raise RuntimeError("ScanV1's core schema is not the one the batch validator expects")
    model["schema"]["fields"]["tracking_no"]["schema"] = field["schema"]
    return model


_BATCH = SchemaValidator(
    core_schema.list_schema(_without_callbacks(ScanV1.__pydantic_core_schema__)))


def _context(now: datetime, limits: ScanLimits) -> dict[str, Any]:
    return {"now": now, "limits": limits, "tracking_numbers": limits.tracking_numbers}
