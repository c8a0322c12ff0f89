"""What writes answer: a batch, one result per item in input order; a command on one
parcel, the log position its events reached."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ItemStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ItemResult:
    index: int  # position in the batch (0-based)
    status: ItemStatus
    key: str | None = None  # the item's own id: scan_id, or tracking_no for a manifest
    reason: str | None = None  # why it was rejected, or a note on how it was accepted

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "status": str(self.status), "key": self.key}
        if self.reason:
            data["reason"] = self.reason
        return data


def item_result(index: int, status: ItemStatus, key: str | None = None,
                reason: str | None = None) -> ItemResult:
    """`ItemResult(index, status, key, reason)`, made without the frozen dataclass's
    `object.__setattr__` per field: one is made for every item of every batch."""
    made = object.__new__(ItemResult)
    object.__setattr__(made, "__dict__",
                       {"index": index, "status": status, "key": key, "reason": reason})
    return made


@dataclass
class BatchReport:
    results: list[ItemResult]
    # Notification id of the last event written (None: nothing written). A reader that
    # waits for its projections to reach it sees its own writes.
    position: int | None = None
    events: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, status: ItemStatus) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def accepted(self) -> int:
        return self.count(ItemStatus.ACCEPTED)

    @property
    def duplicates(self) -> int:
        return self.count(ItemStatus.DUPLICATE)

    @property
    def rejected(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == ItemStatus.REJECTED]


@dataclass(frozen=True)
class Written(Generic[T]):
    """A command on one parcel, saved: what it answered, and the log position a read
    model must reach to show it. That is where its last event was written; when it had
    nothing to record (the same request again), the log's head when it answered, which
    every event it read is at or before."""

    value: T
    position: int


@dataclass(frozen=True)
class Done:
    """A change to a parcel: which, and the log position it reached (see Written)."""

    tracking_no: str
    position: int


@dataclass(frozen=True)
class Step(Done):
    """A step on one of a parcel's cases: the exception, complaint or claim it acted
    on, by its full id (the request may have named it by a prefix or a code)."""

    case_id: str
