"""Field types shared by the wire formats."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

from parcelflow.domain.times import zone
from parcelflow.wire.tracking_numbers import DEFAULT, DEFAULT_PATTERN, MAX_LENGTH, TrackingNumbers

TRACKING_NO_PATTERN = DEFAULT_PATTERN  # the default; the accepted ones are configuration


def tracking_numbers(info: ValidationInfo | None) -> TrackingNumbers:
    """The formats a validation runs with: from its context, else the default."""
    given = (info.context or {}).get("tracking_numbers") if info is not None else None
    return given if isinstance(given, TrackingNumbers) else DEFAULT


def _accepted_tracking_no(value: str, info: ValidationInfo) -> str:
    problem = tracking_numbers(info).problem(value)
    if problem:
        raise ValueError(problem)
    return value


# The published schema shows the default format; `api.app` puts the configured ones in
# the OpenAPI document.
TrackingNo = Annotated[
    str, StringConstraints(max_length=MAX_LENGTH), AfterValidator(_accepted_tracking_no),
    Field(json_schema_extra={"pattern": DEFAULT_PATTERN}),
]
FacilityCode = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9_-]*$")
]
CityCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]


# Every timestamp that enters (wire, query parameters, CLI options) is read here. The
# window is on the date as written (the year 2000 to 2099, whatever the offset), so the
# published pattern can say it exactly, and nothing inside it overflows when converted.
FIRST_YEAR, LAST_YEAR = 2000, 2099
WINDOW = f"the year must be from {FIRST_YEAR} to {LAST_YEAR}"
ISO_EXAMPLE = "2026-11-22T08:15:03+08:00"
# ISO 8601 / RFC 3339 date and time. Digits only where digits belong: "1796107516" (epoch
# seconds? milliseconds?) is ambiguous, so a number, even as a string, is no timestamp.
_ISO = re.compile(r"([0-9]{4})(-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
                  r"(?:[.,]([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:?[0-9]{2})?")
TIMESTAMP_PATTERN = (r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2})?"
                     r"([.,][0-9]{1,9})?([Zz]|[+-][0-9]{2}:?[0-9]{2})$")


class NoOffset(ValueError):
    pass


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp with its offset, inside the window; ValueError says which rule
    it breaks, never repeating the value. Its tzinfo is the one shared object of its
    offset (`times.zone`): times of one offset then compare field by field, the clock
    check's and the timeline's (and the domain needs no other, `times.plain_tz`)."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise NoOffset(f"timestamp has no timezone offset; send e.g. {ISO_EXAMPLE}")
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise ValueError(WINDOW)
        return value.astimezone(zone(offset))
    found = _ISO.fullmatch(value) if isinstance(value, str) and len(value) <= 40 else None
    if found is None:
        raise ValueError(f"must be an ISO 8601 timestamp string with a timezone offset, "
                         f"e.g. {ISO_EXAMPLE}")
    year, rest, fraction, offset = found.groups()
    if offset is None:
        raise NoOffset(f"timestamp has no timezone offset; send e.g. {ISO_EXAMPLE}")
    if not FIRST_YEAR <= int(year) <= LAST_YEAR:  # before parsing: 9999-12-31T23:59-23:59
        raise ValueError(WINDOW)                  # overflows in UTC, 0001-01-01+23:59 too
    if fraction is None and offset[0] != "Z" and offset[0] != "z" and "t" not in rest:
        text = value  # already as written below (what scanners send): no copy to make
    else:
        fraction = f".{fraction[:6]:0<6}" if fraction else ""  # microseconds, at most
        text = f"{year}{rest.upper()}{fraction}{offset.upper()}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # 2026-13-01, 25:00, an offset of 24 hours or more
        raise ValueError("is not a valid date, time and offset") from None
    # The shared tzinfo by the offset's text (utcoffset() costs as much as astimezone).
    shared = _ZONE_OF_OFFSET.get(offset)
    if shared is None:
        shared = _ZONE_OF_OFFSET[offset] = zone(parsed.utcoffset())  # type: ignore[arg-type]
    return parsed.astimezone(shared)


# An offset as written ("+08:00", "+0800", "Z", ...: a few thousand there can be) -> the
# shared tzinfo of that offset (`times.zone`), for the offsets already read.
_ZONE_OF_OFFSET: dict[str, timezone] = {}


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(parse_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]

# Money: CNY as a decimal string ("18.00"). Floats would round and exponents ("1E+400000")
# explode in arithmetic, so only plain digits are money: at most 12 before the point
# (under a trillion yuan) and 2 after (fen).
MONEY_DIGITS, MONEY_PLACES = 12, 2
_MONEY = re.compile(rf"[0-9]{{1,{MONEY_DIGITS}}}(?:\.[0-9]{{1,{MONEY_PLACES}}})?")
MONEY_RULE = (f'must be a decimal string such as "18.00": at most {MONEY_DIGITS} digits '
              f"before the point and {MONEY_PLACES} after")


def parse_money(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        value = str(value)
    if isinstance(value, str) and value.startswith("-") and _MONEY.fullmatch(value[1:]):
        raise ValueError("must be a non-negative amount")
    if isinstance(value, str) and _MONEY.fullmatch(value):
        return Decimal(value)
    if isinstance(value, str) and re.fullmatch(rf"[0-9]{{1,{MONEY_DIGITS}}}\.[0-9]+", value):
        raise ValueError(f"at most {MONEY_PLACES} decimal places (CNY fen)")
    raise ValueError(MONEY_RULE)


Money = Annotated[
    Decimal, BeforeValidator(parse_money),
    WithJsonSchema({"type": "string", "pattern": f"^{_MONEY.pattern}$"}),
]


# Control characters, except tab and line breaks: one rule for the validator and for
# the published schema.
_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_DOCUMENTED = Field(json_schema_extra={"pattern": f"^[^{_CONTROLS}]*$"})


def no_control_characters(value: str) -> str:
    """Free text as people type it: tabs and line breaks, but no other control
    characters (a NUL cannot even be stored in a PostgreSQL text column, and the rest
    are garbage from a broken scanner or an attack on whoever reads the text)."""
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"must not contain control characters (found U+{ord(found[0]):04X})")
    return value


PlainText = Annotated[str, AfterValidator(no_control_characters), _DOCUMENTED]


def text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length),
                     AfterValidator(no_control_characters), _DOCUMENTED]
