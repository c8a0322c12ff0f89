"""Failpoints: let a fault test break a worker at an exact point, e.g. after the relay
published a batch but before it saved its position.

Off unless the environment variable `PARCELFLOW_FAILPOINTS` names the point
(comma-separated; `name@N` fires on the N-th time the point is reached). A firing point
kills its own process with SIGKILL: no cleanup, no flush, no finally blocks, as a
crash or an OOM kill would. `name@N=raise` instead raises `FailpointError` on the N-th
time only, as a passing fault would (a broker refusing one publish): the worker's own
error handling runs, and its retry gets through. Production never sets the variable.
"""

from __future__ import annotations

import os
import signal
from collections import Counter


class FailpointError(RuntimeError):
    """A fault injected by a test (`name=raise`)."""


_ARMED: dict[str, tuple[int, str]] = {}
for _item in filter(None, (p.strip() for p in os.environ.get("PARCELFLOW_FAILPOINTS", "").split(","))):
    _point, _, _action = _item.partition("=")
    _name, _, _nth = _point.partition("@")
    _ARMED[_name] = (int(_nth or 1), _action or "kill")
_HITS: Counter[str] = Counter()


def reached(name: str) -> None:
    if name not in _ARMED:
        return
    _HITS[name] += 1
    nth, action = _ARMED[name]
    if action == "raise":
        if _HITS[name] == nth:
            raise FailpointError(f"failpoint {name} (injected by a test)")
    elif _HITS[name] >= nth:
        os.kill(os.getpid(), signal.SIGKILL)
