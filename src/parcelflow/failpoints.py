"""Failpoints: let a fault test kill a worker at an exact point, e.g. after the relay
published a batch but before it saved its position.

Off unless the environment variable `PARCELFLOW_FAILPOINTS` names the point
(comma-separated; `name@N` fires on the N-th time the point is reached). A firing point
kills its own process with SIGKILL: no cleanup, no flush, no finally blocks, as a
crash or an OOM kill would. Production never sets the variable.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_ARMED: dict[str, int] = {}
for _item in filter(None, (p.strip() for p in os.environ.get("PARCELFLOW_FAILPOINTS", "").split(","))):
    _name, _, _nth = _item.partition("@")
    _ARMED[_name] = int(_nth or 1)
_HITS: Counter[str] = Counter()


def reached(name: str) -> None:
    if name not in _ARMED:
        return
    _HITS[name] += 1
    if _HITS[name] >= _ARMED[name]:
        os.kill(os.getpid(), signal.SIGKILL)
