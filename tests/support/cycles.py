"""What a step leaves in reference cycles: objects only the cyclic collector frees.

A worker that leaves some at every message or batch makes its collections traverse
them (pausing it) and keeps them alive until then (see `UnitOfWork.run`,
`Notifier._retrying`)."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from typing import Any


def _name(thing: Any) -> tuple[str, str]:
    """(module, name) of an object's maker: a function's own, anything else's type's."""
    code = getattr(thing, "__code__", None)
    if code is not None and callable(thing):
        return code.co_filename, thing.__qualname__
    return type(thing).__module__ or "", type(thing).__qualname__


def left_in_cycles(step: Callable[[], object], modules: tuple[str, ...] = ("parcelflow",)
                   ) -> Counter[str]:
    """Run `step` with the collector off; how many objects of each name, made by code
    in `modules`, one collection then found unreachable."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collection finds unreachable is kept
    try:
        step()
        gc.collect()
        return Counter(name for where, name in map(_name, gc.garbage)
                       if any(m in where for m in modules))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
