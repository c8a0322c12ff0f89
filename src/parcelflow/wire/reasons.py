"""Turn pydantic's validation errors into reasons a scanner vendor can act on."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

# Inputs under these fields are personal data: a reason names the field, never the value.
PERSONAL_FIELDS = frozenset({"sender", "receiver"})


def _message(where: str, kind: str, ctx: dict[str, Any], shown: str | None, msg: str) -> str:
    match kind:
        case "extra_forbidden":
            return f"unknown field '{where}' (not part of the wire format v1)"
        case "missing":
            return f"{where}: required field is missing"
        case "enum":
            return f"{where}: {shown} is not one of {ctx.get('expected', '')}"
        case "timezone_aware":
            return f"{where}: timestamp has no timezone offset; send e.g. 2026-11-22T08:15:03+08:00"
        case "string_too_long":
            return f"{where}: longer than {ctx.get('max_length')} characters"
        case "string_too_short":
            return f"{where}: must not be empty"
        case "string_pattern_mismatch":
            return f"{where}: {shown} is not in the expected format"
        case "model_type" | "dict_type" | "model_attributes_type":
            return f"{where}: must be a JSON object"
        case "value_error":
            text = str(ctx.get("error", msg))
            return text if where == "item" else f"{where}: {text}"
        case _:
            return f"{where}: {msg}"


def reason(error: ValidationError) -> str:
    """One line per problem, joined: 'field: what is wrong, and what to send instead'."""
    lines = []
    for e in error.errors(include_url=False):
        loc = e["loc"]
        personal = bool(loc) and loc[0] in PERSONAL_FIELDS
        shown = "(personal data, not shown)" if personal else repr(e.get("input"))
        where = ".".join(str(part) for part in loc) or "item"
        lines.append(_message(where, e["type"], e.get("ctx") or {}, shown, e["msg"]))
    return "; ".join(lines)
