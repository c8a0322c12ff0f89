"""What a batch command answers: one result per item, in input order."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
