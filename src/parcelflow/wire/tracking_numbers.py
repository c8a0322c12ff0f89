"""Which tracking numbers this carrier accepts: configuration, read by every surface.

`PARCELFLOW_TRACKING_NUMBER_PATTERNS` is a JSON list of regular expressions (matched
against the whole number) and built-in names. The one built-in is `"s10"`: the UPU S10
item identifier of international mail (two letters, eight digits, a check digit, a
two-letter country code), with its check digit verified. The default is parcelflow's
own format (`PF202611220000001`). The wire formats, the API's paths and bodies and the
CLI all ask one `TrackingNumbers` built from that setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

DEFAULT_PATTERN = r"^[A-Z]{2}[0-9]{15}$"  # e.g. PF202611220000001
DEFAULT_FORMATS: tuple[str, ...] = (DEFAULT_PATTERN,)
MAX_LENGTH = 40  # longer input is refused before any pattern runs (no regex on megabytes)

S10 = "s10"
_S10_SHAPE = r"^[A-Z]{2}[0-9]{9}[A-Z]{2}$"
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """The S10 check digit of an eight-digit serial number (UPU S10, section 6)."""
    remainder = sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    check = 11 - remainder
    return {10: 0, 11: 5}.get(check, check)


def is_s10(value: str) -> bool:
    return (re.fullmatch(_S10_SHAPE, value) is not None
            and s10_check_digit(value[2:10]) == int(value[10]))


class TrackingNumbers:
    """The accepted formats; `problem(value)` says why a number is not one of them."""

    def __init__(self, formats: Sequence[str] = DEFAULT_FORMATS):
        if not formats:
            raise ValueError("at least one tracking-number format is needed")
        self.formats = tuple(formats)
        self.s10 = S10 in self.formats
        self._patterns = []
        for number, pattern in enumerate(self.formats, start=1):
            if pattern == S10:
                continue
            try:
                self._patterns.append(re.compile(pattern))
            except re.error as e:
                raise ValueError(f"tracking-number format {number} is not a regular "
                                 f"expression: {e.msg}") from None

    def matches(self, value: str) -> bool:
        if len(value) > MAX_LENGTH:
            return False
        if self.s10 and is_s10(value):
            return True
        return any(p.fullmatch(value) for p in self._patterns)

    def matcher(self) -> Callable[[str], object]:
        """`matches`, as quick as it gets for a string of at most MAX_LENGTH characters:
        one compiled pattern's own `fullmatch` when that is the only format (truthy
        exactly when `matches` is True)."""
        if not self.s10 and len(self._patterns) == 1:
            return self._patterns[0].fullmatch
        return self.matches

    def problem(self, value: object) -> str | None:
        """None for an accepted number; else the rule it breaks (never the value)."""
        if not isinstance(value, str):
            return "must be a string"
        if self.matches(value):
            return None
        if self.s10 and re.fullmatch(_S10_SHAPE, value):
            return "the UPU S10 check digit does not match"
        return f"not in an accepted tracking-number format ({self.describe()})"

    def describe(self) -> str:
        return " or ".join("UPU S10 with its check digit" if f == S10 else f
                           for f in self.formats)

    def json_pattern(self) -> str:
        """One ECMA-262 pattern for the documents (the S10 check digit is beyond a regex)."""
        shapes = [_S10_SHAPE if f == S10 else f for f in self.formats]
        anchored = [s if s.startswith("^") and s.endswith("$") else f"^(?:{s})$" for s in shapes]
        return anchored[0] if len(anchored) == 1 else "|".join(f"(?:{s})" for s in anchored)


DEFAULT = TrackingNumbers()
