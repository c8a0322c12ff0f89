"""Where checkpoints go besides the database: places its administrator cannot quietly
rewrite.

- `file:PATH` appends one JSON line per checkpoint and syncs it to disk: put it on
  write-once storage, another machine's mount, or ship it to a notary.
- `kafka` publishes it on the checkpoints topic (another team's cluster keeps a copy
  with its own retention).
- `stdout` prints the same JSON line, for a pipe to whatever notarises them.

Each line is `{"id": N, "note": "<signed note>"}`; `parcelflow verify --checkpoints
FILE` reads them back.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from parcelflow.adapters.kafka import Message, send_all
from parcelflow.application.ports import CheckpointSink
from parcelflow.domain.checkpoint import StoredCheckpoint


def line(stored: StoredCheckpoint) -> str:
    return json.dumps({"id": stored.id, "note": stored.note}, ensure_ascii=False)


class FileSink:
    def __init__(self, path: Path):
        self.path = path

    def publish(self, stored: StoredCheckpoint) -> None:
        # O_APPEND: two writers never interleave a line; fsync: a checkpoint reported
        # as written survives a crash of this machine.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line(stored) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        pass


class StdoutSink:
    def publish(self, stored: StoredCheckpoint) -> None:
        sys.stdout.write(line(stored) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class KafkaSink:
    """The signed note on the checkpoints topic, keyed by origin (one partition's order)."""

    def __init__(self, producer: Any, topic: str, timeout: float):
        self.producer = producer
        self.topic = topic
        self.timeout = timeout

    def publish(self, stored: StoredCheckpoint) -> None:
        # Returns once the broker acknowledged it, or raises why not.
        send_all(self.producer, [Message(self.topic, line(stored).encode(),
                                         key=stored.checkpoint.origin.encode())],
                 timeout=self.timeout)

    def close(self) -> None:
        self.producer.close()


def sinks_for(targets: list[str], kafka: Callable[[], KafkaSink]) -> list[CheckpointSink]:
    """Sinks from `--to` values: `file:PATH`, `kafka`, `stdout`."""
    made: list[CheckpointSink] = []
    for target in targets:
        if target.startswith("file:") and len(target) > 5:
            made.append(FileSink(Path(target[5:])))
        elif target == "kafka":
            made.append(kafka())
        elif target == "stdout":
            made.append(StdoutSink())
        else:
            raise ValueError("--to: expected file:PATH, kafka or stdout")
    return made


def read_file(path: Path) -> Iterator[tuple[int, str]]:
    """(id, signed note) of each checkpoint a FileSink wrote, oldest first."""
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
                yield int(data["id"]), str(data["note"])
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{path} line {number}: not a checkpoint line") from None
