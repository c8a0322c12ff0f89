"""Reading whole read models, to compare an incremental build with a rebuild."""

from __future__ import annotations

from typing import Any


def dump(runners: dict[str, Any]) -> dict[str, Any]:
    views = {name: r.projection.view for name, r in runners.items()}
    stats = views["stats"]
    return {
        "tracking": views["tracking"].all(),
        "exceptions": views["exceptions"].all(),
        "cases": {t: views["cases"].query(f"SELECT * FROM {t} ORDER BY 1")
                  for t in views["cases"].tables},
        "stats": {t: sorted(map(_row, stats.query(f"SELECT * FROM {t}")), key=repr)
                  for t in stats.tables},
    }


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(row.items()))
