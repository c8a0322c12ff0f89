"""Tables that fit the terminal without cutting what people copy.

Rich shares a narrow terminal among all columns: it wraps times over two lines and
cuts identifiers to `PF20261…`, which an agent cannot copy. Here each column says how it
may give way: `keep` columns (tracking numbers, codes, due times, assignees) are always
shown whole, on one line; the others are shown, in order of `rank`, only while the
table still fits at its natural width, and the caption names what was left out; `fold`
columns (free text) may wrap. `wide` shows every column whatever the width. Rich has no
"drop a column that does not fit" of its own, hence this small layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

# A column's cost beyond its text: two spaces of padding and one rule.
_EDGE = 3
_FOLDED = 16  # the width a folding column is counted at when it is not kept


@dataclass(frozen=True)
class Column:
    heading: str
    keep: bool = False  # always shown, whole and on one line
    rank: int = 0  # among the others: lower is shown first when room is short
    fold: bool = False  # free text: may wrap over lines
    justify: str = "left"


def fitted(columns: Sequence[Column], rows: Sequence[Sequence[str]], *, width: int,
           wide: bool = False, title: str | None = None) -> Table:
    """A table of `rows` (one string per column) that fits `width`, or shows everything
    (`wide`)."""
    natural = [max([len(c.heading), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    shown = {i for i, c in enumerate(columns) if c.keep or wide}
    used = 1 + sum(natural[i] + _EDGE for i in shown)
    for i in sorted((i for i in range(len(columns)) if i not in shown),
                    key=lambda i: columns[i].rank):
        cost = min(natural[i], _FOLDED) if columns[i].fold else natural[i]
        if used + cost + _EDGE <= width:
            shown.add(i)
            used += cost + _EDGE
    left_out = [c.heading for i, c in enumerate(columns) if i not in shown]
    table = Table(title=title, title_justify="left", caption=(
        f"not shown at this width: {', '.join(left_out)} (--wide shows every column)"
        if left_out else None), caption_justify="left")
    order = sorted(shown)
    for i in order:
        column = columns[i]
        table.add_column(column.heading, justify=column.justify,  # type: ignore[arg-type]
                         no_wrap=not column.fold, overflow="fold",
                         min_width=None if column.fold else natural[i])
    for row in rows:
        table.add_row(*(row[i] for i in order))
    return table


def print_table(console: Console, table: Table) -> None:
    """Print `table` at the console's width, or wider when its whole columns need more
    (the terminal then wraps the line; Rich would cut the identifiers instead)."""
    needed = 1 + sum((c.min_width or len(str(c.header))) + _EDGE for c in table.columns)
    if needed <= console.width:
        console.print(table)
        return
    width = console.width
    console.width = needed
    try:
        console.print(table)
    finally:
        console.width = width
