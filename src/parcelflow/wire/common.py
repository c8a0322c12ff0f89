"""Field types shared by the wire formats."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

TRACKING_NO_PATTERN = r"^[A-Z]{2}[0-9]{15}$"  # e.g. PF202611220000001

TrackingNo = Annotated[str, StringConstraints(pattern=TRACKING_NO_PATTERN)]
FacilityCode = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9_-]*$")
]
CityCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]


def _iso_string_only(value: Any) -> Any:
    # JSON has no timestamp type: the contract is an ISO 8601 string with an offset.
    # Numbers (epoch seconds? milliseconds?) are ambiguous, so they are refused.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 timestamp string with a timezone offset")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_string_only)]


def _decimal_string(value: Any) -> Any:
    # Money travels as decimal strings ("18.00"): floats would round, so they are refused.
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "18.00"')
    return value


Money = Annotated[
    Decimal, BeforeValidator(_decimal_string)
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
