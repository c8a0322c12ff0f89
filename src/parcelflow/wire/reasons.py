"""Turn pydantic's validation errors into reasons a scanner vendor can act on.

A reason names the field and the rule, never the value sent: a value may be a phone
number or a name, and it would travel on in HTTP answers, dead-letter headers and logs.
Even a field's *name* is sent by the client: an unknown field is named only when its name
looks like one (`colour`), never when it could be data (`13812345678 张三`). And a reason
is bounded: thousands of unknown fields make one short line, not an answer four times
the size of the request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from parcelflow.wire.tracking_numbers import DEFAULT, TrackingNumbers

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")  # what a field name looks like
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # an identifier worth echoing
UNNAMED = "(unnamed)"
MAX_PROBLEMS = 8  # per item; the rest are counted
MAX_NAMES = 5  # unknown field names listed per object; the rest are counted
MAX_LENGTH = 1000  # characters, whatever the problems


def field_path(loc: Sequence[Any]) -> str:
    """A location as a dotted path, with any part that is not a field name or an index
    replaced: the parts of an unknown field's location come from the client."""
    parts = []
    for part in loc:
        if isinstance(part, int) or _NAME.fullmatch(str(part)):
            parts.append(str(part))
        else:
            parts.append(UNNAMED)
    return ".".join(parts)


def _message(where: str, kind: str, ctx: dict[str, Any], msg: str) -> str:
    match kind:
        case "missing":
            return f"{where}: required field is missing"
        case "enum":
            return f"{where}: not one of {ctx.get('expected', '')}"
        case "timezone_aware":
            return f"{where}: timestamp has no timezone offset; send e.g. 2026-11-22T08:15:03+08:00"
        case "string_too_long":
            return f"{where}: longer than {ctx.get('max_length')} characters"
        case "string_too_short":
            return f"{where}: must not be empty"
        case "string_pattern_mismatch":
            return f"{where}: not in the expected format ({ctx.get('pattern')})"
        case "model_type" | "dict_type" | "model_attributes_type":
            return f"{where}: must be a JSON object"
        case "value_error":
            text = str(ctx.get("error", msg))
            return text if where == "item" else f"{where}: {text}"
        case _:  # pydantic's own messages name the rule, not the input
            return f"{where}: {msg}"


def unknown_fields(parent: str, names: list[str]) -> str:
    shown = [n for n in names if _NAME.fullmatch(n)][:MAX_NAMES]
    listed = ", ".join(f"'{parent}.{n}'" if parent else f"'{n}'" for n in shown)
    rest = len(names) - len(shown)
    if not shown:
        what = "unknown field" if rest == 1 else f"{rest} unknown fields"
        where = f" in {parent}" if parent else ""
        return f"{what}{where} (not part of the wire format v1; names not shown)"
    more = f" and {rest} more" if rest else ""
    noun = "unknown field" if len(names) == 1 else "unknown fields"
    return f"{noun} {listed}{more} (not part of the wire format v1)"


def bounded(problems: list[str]) -> str:
    text = "; ".join(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        text += f"; and {len(problems) - MAX_PROBLEMS} more problems"
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


def reason(error: ValidationError) -> str:
    """One line per problem, joined: 'field: what is wrong, and what to send instead'."""
    problems: list[str | list[str]] = []
    unknown: dict[str, list[str]] = {}  # unknown field names, per enclosing object
    for e in error.errors(include_url=False, include_input=False):
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden" and loc:
            parent = field_path(loc[:-1])
            if parent not in unknown:
                unknown[parent] = []
                problems.append(unknown[parent])  # keeps its place among the others
            unknown[parent].append(str(loc[-1]))
            continue
        problems.append(_message(field_path(loc) or "item", e["type"], e.get("ctx") or {},
                                 e["msg"]))
    parents = {id(names): parent for parent, names in unknown.items()}
    return bounded([p if isinstance(p, str) else unknown_fields(parents[id(p)], p)
                    for p in problems])


def known_key(item: Any, name: str, tracking_numbers: TrackingNumbers | None = None
              ) -> str | None:
    """A rejected item's scan_id or tracking_no, echoed back to match the answer to the
    item: only when it has the shape of one (anything else may be data)."""
    value = item.get(name) if isinstance(item, dict) else None
    if not isinstance(value, str):
        return None
    if name == "tracking_no":
        return value if (tracking_numbers or DEFAULT).matches(value) else None
    return value if _KEY.fullmatch(value) else None
