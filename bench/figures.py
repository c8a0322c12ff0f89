"""A benchmark's figures as rows for `bench/run_all.py` (`--json FILE` on every script).

Each row: the path, the figure and its unit, the limit measured in the same run, and
the ratio of the two, always as "the fraction of the limit reached" (figure / limit
for a rate, limit / figure for a latency), so 1.0 is the limit itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    key: str  # stable name, e.g. "ingest_warm"
    path: str  # what a reader calls it (the table's first column)
    value: float
    unit: str
    limit_name: str | None = None
    limit_value: float | None = None
    limit_unit: str | None = None
    lower_is_better: bool = False  # a latency
    target: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.limit_value or not self.value:
            return None
        return self.limit_value / self.value if self.lower_is_better else self.value / self.limit_value

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": None if self.ratio is None else round(self.ratio, 3)}

    def line(self) -> str:
        text = f"{self.path}: {number(self.value, self.unit)} {self.unit}"
        if self.limit_value:
            text += (f" = {self.ratio:.2f} of the limit ({self.limit_name}: "
                     f"{self.limit_value:,.1f} {self.limit_unit})")
        return text


def number(value: float, unit: str) -> str:
    """A figure as the tables show it: a latency or size under 100 with a decimal (under
    1 with three: a lookup's CPU is 0.59 ms, not "1 ms"), anything else whole."""
    if unit in ("ms", "s", "MiB") and value < 1:
        return f"{value:.3f}"
    if unit in ("ms", "s", "MiB") and value < 100:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def write(path: str | None, figures: list[Figure]) -> None:
    for f in figures:
        print("figure: " + f.line(), flush=True)
    if path:
        Path(path).write_text(json.dumps([f.to_json() for f in figures], indent=1,
                                         ensure_ascii=False))
