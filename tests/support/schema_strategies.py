"""Hypothesis strategies drawn from a published JSON Schema (the wire formats' own), and
mutations of what they draw: what a careless or hostile producer sends.

A small walker over the keywords the wire schemas use ($ref, anyOf, enum, object with
properties and required, string with pattern / length / date-time, booleans, numbers);
hypothesis-jsonschema would do it, but its release does not run on this hypothesis.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Json = Any


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Json]:
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return from_schema(root["$defs"][name], root)
    if "anyOf" in schema:
        return st.one_of([from_schema(option, root) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", ()))
        fields = {name: from_schema(sub, root) for name, sub in schema["properties"].items()}
        optional = {name: s for name, s in fields.items() if name not in required}
        return st.fixed_dictionaries({n: fields[n] for n in required}, optional=optional)
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 200)
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True)
        else:
            text = st.text(max_size=high)
        return text.filter(lambda s: low <= len(s) <= high)
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers()
    if kind == "number":
        return st.floats(allow_nan=False)
    if kind == "null":
        return st.none()
    raise NotImplementedError(f"schema keyword set not covered: {sorted(schema)}")


ODD_TIMESTAMPS = [
    "1796107516", "1796107516000", 1796107516, 0.5, "0.5", "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59", "1970-01-01T00:00:00Z", "2026-11-22T08:15:03",
    "2026-11-22T08:15:03+24:00", "2026-W47-1T08:00:00Z", "2026-11-22t08:15:03z",
    "2026-11-22T08:15:03.123456789+08:00", "２０２６-11-22T08:15:03Z", "", "now",
    "2026-02-30T00:00:00Z", "2026-11-22T08:15:03+0800",
]
SECRET = "13812345678 张三"  # planted in mutations: must never come back in a reason
HOSTILE_VALUES = st.one_of(
    st.sampled_from([None, True, 0, -1, 10**300, 1e308, [], {}, [[[]]], "", SECRET,
                     "\x00", "a\x00b", "\x1b[2J", "[/bold]", "\ud7ff", "x" * 10_000,
                     "1E+400000", "NaN", "-0", "0" * 5000]),
    st.integers(min_value=-(10**4000), max_value=10**4000),
    st.text(max_size=50),
    st.recursive(st.none() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10),
)


def nested(depth: int) -> Json:
    value: Json = []
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> Json:
    """An item drawn from the schema, then bent: wrong types, extra fields, huge values,
    control characters, odd timestamps, deep nesting, or not an object at all."""
    item = dict(draw(base))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        how = draw(st.sampled_from(["wrong", "extra", "many_extra", "timestamp", "drop",
                                    "nested", "not_an_object"]))
        fields = sorted(item) or ["scan_id"]
        if how == "wrong":
            item[draw(st.sampled_from(fields))] = draw(HOSTILE_VALUES)
        elif how == "extra":
            item[draw(st.sampled_from(["colour", SECRET, "\x00", "a.b", ""]))] = draw(
                HOSTILE_VALUES)
        elif how == "many_extra":
            item.update({f"f{n}": n for n in range(draw(st.integers(100, 3000)))})
        elif how == "timestamp":
            field = "promised_by" if "promised_by" in item else "occurred_at"
            item[field] = draw(st.sampled_from(ODD_TIMESTAMPS))
        elif how == "drop" and item:
            item.pop(draw(st.sampled_from(fields)), None)
        elif how == "nested":
            item[draw(st.sampled_from(fields))] = nested(draw(st.integers(10, 900)))
        elif how == "not_an_object":
            return draw(HOSTILE_VALUES)
    return item
