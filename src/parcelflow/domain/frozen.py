"""Making frozen dataclasses on the hot paths without a setattr per field.

A frozen dataclass's generated `__init__` sets every field with `object.__setattr__`:
1.5 us for a 12-field `Scan`, against 0.3 us filling its `__dict__` (timeit, Python
3.11). Every scan makes a `Scan` and an `Entry` (and each replayed scan again), so
`filled` makes those the quick way: the same object the constructor makes (field
defaults filled in, `__post_init__` run), still frozen afterwards. Only for plain
defaults: a class with a `default_factory` field not given, an unknown name, or a
field the constructor does not take goes through the constructor, which says what is
wrong. tests/unit/test_frozen.py compares both ways.

The `__dict__` is filled key by key, in field order, not replaced by a dict made
beforehand nor `update`d from one: CPython (3.11) keeps an instance's attributes in a
table whose keys all instances of the class share only when they are inserted one by
one in the class's order; a dict handed over whole is a dict of its own, with its own
keys. Measured with tracemalloc: a `Scan` with its dict 528 bytes made the old way,
248 key by key (the constructor's 296 for the first instance of a process, 168 after);
for a cached parcel of 11 scans, its scans and timeline entries are ~60% of its memory.
`tests/unit/test_frozen.py` checks that the dicts made here share their keys.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_PLANS: dict[type, tuple[tuple[str, ...], frozenset[str], dict[str, Any], frozenset[str]]] = {}


def _plan(cls: type) -> tuple[tuple[str, ...], frozenset[str], dict[str, Any], frozenset[str]]:
    fields = [f for f in dataclasses.fields(cls) if f.init]
    order = tuple(f.name for f in fields)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    needed = frozenset(f.name for f in fields if f.default is dataclasses.MISSING)
    return order, frozenset(order), defaults, needed


def filled(cls: type[T], values: dict[str, Any]) -> T:
    """`cls(**values)` for a frozen dataclass, made quickly."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _plan(cls)
    order, names, defaults, needed = plan
    keys = values.keys()
    if not (keys <= names and needed <= keys):
        return cls(**values)
    made = object.__new__(cls)
    state = made.__dict__
    for name in order:  # key by key, in field order: see the module
        state[name] = values[name] if name in values else defaults[name]
    post_init = getattr(made, "__post_init__", None)
    if post_init is not None:
        post_init()
    return made
