"""Checkpoints: a signed commitment to every parcel's chain head, and what breaks one.

A parcel's hash chain proves its events belong together, but whoever can write the
events table can also rewrite the newest event with its hash, delete it, append a
forged one with a correct link, or rewrite a middle event and recompute every link
after it: the chain still holds. A checkpoint closes that gap. It commits to each
parcel's head (tracking number, version, the head's hash and its predecessor's) as one
leaf of an RFC 6962 Merkle tree, the leaves in tracking-number order; the tree's root
is signed and written where the database's administrator cannot reach. From then on the
stored history must lead to those heads.

The checkpoint's text is a C2SP tlog-checkpoint (origin, tree size, base64 root) with
two extension lines: the log position it covers and when it was made. A third party
verifies an inclusion proof with that text, its signature and the public key alone.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from parcelflow.domain import merkle


@dataclass(frozen=True)
class Head:
    """A parcel's newest event as a checkpoint commits to it."""

    tracking_no: str
    version: int
    event_hash: str
    previous_hash: str

    def leaf(self) -> bytes:
        """The leaf's bytes: one line a person can read and a verifier can rebuild."""
        return f"{self.tracking_no} {self.version} {self.event_hash} {self.previous_hash}".encode()

    @classmethod
    def parse(cls, leaf: str) -> Head:
        tracking_no, version, event_hash, previous_hash = leaf.split(" ")
        return cls(tracking_no, int(version), event_hash, previous_hash)


def ordered(heads: list[Head]) -> list[Head]:
    """Leaves in the order the tree takes them: by tracking number, as bytes."""
    return sorted(heads, key=lambda h: h.tracking_no.encode())


def leaf_hashes(heads: list[Head]) -> list[bytes]:
    return [merkle.leaf_hash(h.leaf()) for h in heads]


@dataclass(frozen=True)
class Checkpoint:
    origin: str  # whose log: also the signing key's name
    tree_size: int
    root: bytes
    position: int  # the notification log position it covers
    made_at: datetime

    def text(self) -> str:
        return (f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root).decode()}\n"
                f"position {self.position}\n"
                f"time {self.made_at.astimezone(timezone.utc).isoformat()}\n")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 6 or lines[-1] != "":
            raise ValueError("not a parcelflow checkpoint: expected six lines")
        origin, size, root, position, made = lines[:5]
        if not position.startswith("position ") or not made.startswith("time "):
            raise ValueError("not a parcelflow checkpoint: no position and time lines")
        return cls(origin, int(size), base64.b64decode(root, validate=True),
                   int(position.removeprefix("position ")),
                   datetime.fromisoformat(made.removeprefix("time ")))

    @classmethod
    def over(cls, origin: str, heads: list[Head], *, position: int,
             made_at: datetime) -> Checkpoint:
        """The checkpoint of these heads (given in leaf order)."""
        return cls(origin, len(heads), merkle.root(leaf_hashes(heads)), position, made_at)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as it was kept and published: its number and its signed note."""

    id: int
    note: str  # the signed note, as it was published
    checkpoint: Checkpoint  # its text as stored beside it (check it against `note`)


@dataclass(frozen=True)
class AnchoredHead:
    head: Head
    parcel_id: str  # hex, as the event store keys it


class Tamper(StrEnum):
    """What a checkpoint shows was done to a parcel's stored history."""

    DELETED_PARCEL = "deleted_parcel"
    DELETED_NEWEST = "deleted_newest_event"
    REWRITTEN = "rewritten_event"
    RE_CHAINED = "re_chained"
    FORGED_APPENDED = "forged_appended_event"


@dataclass(frozen=True)
class Finding:
    tracking_no: str
    kind: Tamper
    version: int
    detail: str


@dataclass
class Seen:
    """What the store holds of one anchored parcel, gathered while walking its chain."""

    last_version: int = 0
    at_anchor: tuple[str, str] | None = None  # (event_hash, previous_hash) at the anchor
    later: list[tuple[int, datetime]] | None = None  # (version, recorded_at) past the anchor


def judge(anchor: Head, seen: Seen | None, checkpoint: Checkpoint,
          max_merge_delay: timedelta) -> list[Finding]:
    """Compare what the store holds of a parcel with the head a checkpoint committed to.

    A later event is fine if it was recorded after the checkpoint was made; one that
    claims to have been recorded well before (more than `max_merge_delay`, the longest
    an honest write takes to commit) but was not in the checkpoint was appended later
    with a backdated time: forged.
    """
    n, v = anchor.tracking_no, anchor.version
    made = checkpoint.made_at
    if seen is None or seen.last_version == 0:
        return [Finding(n, Tamper.DELETED_PARCEL, v,
                        f"the checkpoint of {made.isoformat()} committed to version {v}; "
                        "the store has no event of this parcel")]
    findings = []
    if seen.at_anchor is None:
        findings.append(Finding(
            n, Tamper.DELETED_NEWEST, v,
            f"event {v} is gone: the checkpoint of {made.isoformat()} committed to it, the "
            f"stored history ends at version {seen.last_version}"))
    else:
        event_hash, previous_hash = seen.at_anchor
        if event_hash != anchor.event_hash:
            newest = "the newest event" if seen.last_version == v else "an event"
            if previous_hash == anchor.previous_hash:
                findings.append(Finding(
                    n, Tamper.REWRITTEN, v,
                    f"{newest} (version {v}) was rewritten together with its hash: it no "
                    f"longer matches the checkpoint of {made.isoformat()}, while its link to "
                    "the event before still does"))
            else:
                findings.append(Finding(
                    n, Tamper.RE_CHAINED, v,
                    f"an event before version {v} was rewritten and every link after it "
                    f"recomputed: version {v} and its predecessor no longer match the "
                    f"checkpoint of {made.isoformat()}"))
    for version, recorded_at in seen.later or ():
        if recorded_at + max_merge_delay < made:
            findings.append(Finding(
                n, Tamper.FORGED_APPENDED, version,
                f"event {version} says it was recorded at {recorded_at.isoformat()}, before "
                f"the checkpoint of {made.isoformat()}, which ends this parcel at version "
                f"{v}: it was appended afterwards with a backdated time"))
            break  # the first one names the forgery; the rest follow from it
    return findings
