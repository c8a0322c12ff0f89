"""Reading JSON Lines files in batches, without losing track of line numbers."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, as an editor shows it
    item: Any = None
    error: str | None = None  # set when the line is not JSON


def open_input(path: str) -> IO[str]:
    return sys.stdin if path == "-" else Path(path).open(encoding="utf-8")


def read_lines(stream: IO[str]) -> Iterator[Line]:
    for number, text in enumerate(stream, start=1):
        text = text.strip()
        if not text:
            continue
        try:
            yield Line(number, json.loads(text))
        except json.JSONDecodeError as e:
            yield Line(number, error=f"line is not valid JSON: {e.msg} at column {e.colno}")


def batches(lines: Iterator[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
