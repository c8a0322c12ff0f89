"""Reading JSON Lines files in batches, without losing track of line numbers.

Each line stands alone: a line that is not UTF-8, not JSON, nested too deep or holding a
number too large to read is rejected with its number and the reason, and the lines
around it are read as usual. The file is read as bytes and each line parsed as the HTTP
API parses its bodies (`parcelflow.wire.json_text`: orjson first): invalid UTF-8 and
nesting over 1024 levels are its errors, and a number too large to convert is kept as
text for the schema to reject, not a RecursionError or a ValueError from the standard
library's parser that would end the whole file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from parcelflow.wire import json_text


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, as an editor shows it
    item: Any = None
    error: str | None = None  # set when the line is not JSON
    raw: bytes = b""  # the line as it was, without its line break


def open_input(path: str) -> IO[bytes]:
    return sys.stdin.buffer if path == "-" else Path(path).open("rb")


def parse_line(raw: bytes) -> tuple[Any, str | None]:
    """A line's JSON value, or why it has none (never quoting the line)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"line is not valid UTF-8 (at byte {e.start + 1})"
    try:
        return json_text.loads(raw), None
    except ValueError as e:
        return None, f"line is not valid JSON: {e}"


def read_lines(stream: IO[bytes]) -> Iterator[Line]:
    for number, raw in enumerate(stream, start=1):
        raw = raw.strip()
        if not raw:
            continue
        item, error = parse_line(raw)
        yield Line(number, item, error, raw)


def batches(lines: Iterator[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
