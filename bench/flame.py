"""A flame graph (SVG) from collapsed stacks, each frame coloured by cost category.

Root at the bottom, callees above, width = share of samples, as Brendan Gregg's
flamegraph.pl draws them; hovering a frame shows its name, samples and share. Frames
under `MIN_SHARE` of the samples are left out so the files stay small. The colour of a
frame is the category (see `profiling.RULES`) at least 60% of its samples fall in
(grey: a mix); the legend under the graph names them with their shares.
"""

from __future__ import annotations

import colorsys
import html
import re
from collections import Counter
from collections.abc import Callable

WIDTH = 1400
ROW = 16
MIN_SHARE = 0.0015  # of all samples

_LINE = re.compile(r":\d+\)$")  # frames merge by function, not by line


class Node:
    __slots__ = ("name", "count", "children", "categories")

    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.children: dict[str, Node] = {}
        self.categories: Counter[str] = Counter()


def _palette(categories: list[str]) -> dict[str, str]:
    """Hues spread round the wheel in the categories' order, lightness alternating, so
    neighbours in the legend never look alike."""
    out = {}
    for i, category in enumerate(categories):
        r, g, b = colorsys.hls_to_rgb((i * 0.381966) % 1.0, 0.55 + 0.12 * (i % 3 - 1), 0.6)
        out[category] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    return out


def render(stacks: list[tuple[list[str], int]], *, title: str,
           colour: Callable[[str], str], order: list[str] | None = None) -> str:
    stacks = [([_LINE.sub(")", f) for f in frames], n) for frames, n in stacks]
    root = Node("all")
    for frames, count in stacks:
        category = colour(";".join(frames))
        root.count += count
        root.categories[category] += count
        node = root
        for frame in frames:
            node = node.children.setdefault(frame, Node(frame))
            node.count += count
            node.categories[category] += count
    total = root.count or 1
    known = list(order or []) + sorted(set(root.categories) - set(order or []))
    palette = _palette(known)

    def _colour(category: str) -> str:
        return palette.get(category, "#dddddd")
    rects: list[str] = []
    depth_max = [0]
    used: Counter[str] = Counter()

    def draw(node: Node, x: float, depth: int) -> None:
        w = node.count / total * WIDTH
        if node.count / total < MIN_SHARE:
            return
        depth_max[0] = max(depth_max[0], depth)
        top, share = node.categories.most_common(1)[0] if node.categories else ("other", 0)
        # A frame most of whose samples are one category wears its colour; a frame
        # that is a mix (the callers near the root) stays grey.
        category = top if share >= 0.6 * node.count else "(mixed)"
        used[category] += node.count if depth == 1 else 0
        label = node.name if len(node.name) * 6.5 < w else (
            node.name[: int(w / 6.5) - 2] + ".." if w > 30 else "")
        tip = f"{node.name} — {node.count} samples, {100 * node.count / total:.1f}% ({category})"
        rects.append(
            f'<g><title>{html.escape(tip)}</title><rect x="{x:.1f}" y="{{y{depth}}}" '
            f'width="{max(w - 0.5, 0.5):.1f}" height="{ROW - 1}" fill="{_colour(category)}" '
            f'rx="2"/>' + (f'<text x="{x + 3:.1f}" y="{{t{depth}}}">{html.escape(label)}</text>'
                           if label else "") + "</g>")
        child_x = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            draw(child, child_x, depth + 1)
            child_x += child.count / total * WIDTH

    draw(root, 0.0, 0)
    legend_rows = sorted(root.categories.items(), key=lambda kv: -kv[1])
    graph_height = (depth_max[0] + 1) * ROW
    top = 40
    height = top + graph_height + 20 + ROW * ((len(legend_rows) + 2) // 3) + 10
    body = "\n".join(rects)
    for d in range(depth_max[0] + 1):
        y = top + graph_height - (d + 1) * ROW
        body = body.replace(f"{{y{d}}}", str(y)).replace(f"{{t{d}}}", str(y + ROW - 4))
    legend = []
    for i, (category, n) in enumerate(legend_rows):
        lx = 10 + (i % 3) * (WIDTH // 3)
        ly = top + graph_height + 20 + (i // 3) * ROW
        legend.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{_colour(category)}"/>'
                      f'<text x="{lx + 16}" y="{ly + 11}">{html.escape(category)} '
                      f'{100 * n / total:.1f}%</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'font-family="Verdana, sans-serif" font-size="11">\n'
            f'<rect width="100%" height="100%" fill="#fafafa"/>\n'
            f'<text x="10" y="24" font-size="15">{html.escape(title)}</text>\n'
            f'{body}\n{"".join(legend)}\n</svg>\n')
