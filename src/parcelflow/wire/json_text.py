"""JSON text as the wire reads it: orjson, and the standard library where orjson gives up.

orjson (fast, UTF-8 checked, nesting bounded at 1024) refuses numbers beyond a double's
range, a valid JSON text all the same: then the whole body would be lost for one item's
silly number. Only then is the text read again by the standard library, each number too
large to convert kept as its digits (int() of 5,000 digits would raise ValueError; deep
nesting raises RecursionError and is refused): the item with the number is then rejected
by the schema like any other wrong type, and its neighbours are kept.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


class Number(str):
    """A JSON number too large to convert, kept as its text (a wrong type everywhere)."""


def loads(raw: bytes) -> Any:
    """The value of a JSON text; ValueError (with orjson's reason) if it has none."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "number" not in e.msg:
            raise ValueError(f"{e.msg} at column {e.colno}") from None
        first = e
    try:
        return json.loads(raw, parse_int=_integer, parse_float=_float, parse_constant=_refuse)
    except (ValueError, RecursionError):
        raise ValueError(f"{first.msg} at column {first.colno}") from None


def _integer(text: str) -> int | Number:
    return int(text) if len(text) <= 18 else Number(text)  # orjson's range, roughly


def _float(text: str) -> float | Number:
    value = float(text)
    return value if math.isfinite(value) else Number(text)


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
