"""Anchoring every parcel's chain: making signed checkpoints, and checking the store
against the newest one. Used alike by `parcelflow checkpoint`, `parcelflow verify` and
the API.

Making a checkpoint reads only what the log gained since the one before: each parcel
that moved is walked from its anchored head, link by link, so a history that was
tampered with between two checkpoints cannot be laundered into the next one: such a
parcel keeps its old anchor, and is reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import structlog

from parcelflow.application.audit import ChainWalk, VerifyReport, verify, verify_all
from parcelflow.application.errors import BadSignature, ParcelNotFound
from parcelflow.application.ports import (
    CheckpointSigner,
    CheckpointSink,
    CheckpointStore,
    CheckpointVerifier,
)
from parcelflow.application.service import ParcelService
from parcelflow.domain import merkle
from parcelflow.domain.buckets import bucket_of, bucket_of_parcel
from parcelflow.domain.chain import BrokenLink
from parcelflow.domain.checkpoint import (
    AnchoredHead,
    Checkpoint,
    Finding,
    Head,
    Seen,
    StoredCheckpoint,
    judge,
    leaf_hashes,
    ordered,
)
from parcelflow.domain.ids import parcel_id

log = structlog.get_logger(__name__)

PAGE = 2000


class CheckpointError(Exception):
    """A checkpoint cannot be made or read (no key, a bad signature, ...)."""


@dataclass
class Made:
    stored: StoredCheckpoint
    changed: int  # heads that moved since the checkpoint before
    refused: list[tuple[str, BrokenLink]]  # parcels whose new events do not link up
    new: bool = True  # False: the log had not moved, the newest checkpoint stands


class Checkpoints:
    """`parcelflow checkpoint`: commit to every chain head, sign, store, publish."""

    def __init__(self, service: ParcelService, store: CheckpointStore,
                 signer: CheckpointSigner | None, sinks: list[CheckpointSink] | None = None):
        self.service = service
        self.store = store
        self.signer = signer
        self.sinks = sinks or []

    def make(self) -> Made:
        if self.signer is None:
            raise CheckpointError("no checkpoint key: set PARCELFLOW_CHECKPOINT_KEY "
                                  "(`parcelflow keys checkpoint-create` makes one)")
        previous = self.store.newest()
        position = self.service.recorder.max_notification_id() or 0
        left = moved_away(self.store, self.signer.verifier(), previous.checkpoint
                          ) if previous else MovedAway()
        if previous is not None and previous.checkpoint.position >= position \
                and not left.buckets:
            return Made(previous, 0, [], new=False)
        anchored = {UUID(a.parcel_id): a for a in
                    (self.store.heads(previous.id) if previous else [])}
        for problem in left.problems:
            log.error("checkpoint.unsigned_drop", problem=problem)
        # Parcels whose bucket left the shard since: no longer committed to.
        removed = [a for pid, a in anchored.items() if bucket_of_parcel(pid) in left.buckets]
        for a in removed:
            del anchored[UUID(a.parcel_id)]
        if previous is not None and previous.checkpoint.position >= position and not removed:
            return Made(previous, 0, [], new=False)
        if previous is not None:  # a drop can lower the log's top id; positions go on
            position = max(position, previous.checkpoint.position)
        newest_previous: dict[UUID, str] = {}

        def seen(pid: UUID, version: int, fields: dict[str, Any], ok: bool) -> None:
            newest_previous[pid] = fields.get("previous_hash", "")

        walk = ChainWalk(self.service, seen)
        walk.heads = {pid: (a.head.version, a.head.event_hash) for pid, a in anchored.items()}
        walk.tracking_nos = {pid: a.head.tracking_no for pid, a in anchored.items()}
        start = previous.checkpoint.position if previous else 0
        while start < position:
            notes = self.service.recorder.select_notifications(
                start=start, limit=PAGE, stop=position, inclusive_of_start=False)
            if not notes:
                break
            for note in notes:
                walk.check(note)
            start = notes[-1].id
        changed = []
        refused = []
        for pid in newest_previous:
            number = walk.tracking_nos.get(pid)
            if pid in walk.broken or number is None:
                link = walk.broken.get(pid) or BrokenLink(
                    pid, 1, "?", "its first event is missing")
                refused.append((number or str(pid), link))
                continue  # keeps the head it had: what was anchored stays anchored
            version, event_hash = walk.heads[pid]
            changed.append(AnchoredHead(
                Head(number, version, event_hash, newest_previous[pid]), pid.hex))
        for pid in {UUID(a.parcel_id) for a in changed}:
            anchored.pop(pid, None)
        # A bucket that left and came back: its parcels are anchored afresh, not removed.
        again = {a.parcel_id for a in changed}
        removed = [a for a in removed if a.parcel_id not in again]
        heads = ordered([a.head for a in (*anchored.values(), *changed)])
        checkpoint = Checkpoint.over(self.signer.name, heads, position=position,
                                     made_at=self.service.clock())
        note = self.signer.sign(checkpoint.text())
        checkpoint_id = (previous.id if previous else 0) + 1
        self.store.save(checkpoint_id, checkpoint, note, changed, removed)
        stored = StoredCheckpoint(checkpoint_id, note, checkpoint)
        for sink in self.sinks:
            sink.publish(stored)
        for number, link in refused:
            log.error("checkpoint.refused_head", tracking_no=number, version=link.version,
                      reason=link.reason)
        log.info("checkpoint.made", checkpoint=checkpoint_id, parcels=checkpoint.tree_size,
                 changed=len(changed), refused=len(refused), position=position)
        return Made(stored, len(changed), refused)

    def run(self, every: float, stop: threading.Event,
            on_made: Callable[[Made], None] | None = None) -> None:
        """A checkpoint every `every` seconds (when the log moved) until `stop` is set."""
        while not stop.is_set():
            made = self.make()
            if made.new and on_made:
                on_made(made)
            stop.wait(every)


@dataclass
class MovedAway:
    buckets: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def moved_away(store: CheckpointStore, verifier: CheckpointVerifier,
               since: Checkpoint) -> MovedAway:
    """Buckets whose events this store dropped after they moved away, once `since` was
    made (the drop's position is at or past it), by records signed with the checkpoint
    key. A record that does not verify excuses nothing: it is a problem of its own."""
    found = MovedAway()
    for number, (bucket, position, note) in enumerate(store.drops(), 1):
        if position < since.position:
            continue
        try:
            text = verifier.open(note)
        except BadSignature as e:
            found.problems.append(f"the record of bucket {bucket}'s drop ({number}) does not "
                                  f"verify: {e}")
            continue
        if f"\nbucket {bucket}\nposition {position}\n" not in text:
            found.problems.append(f"the record of bucket {bucket}'s drop ({number}) was "
                                  "altered: its columns differ from its signed text")
            continue
        found.buckets.add(bucket)
    return found


@dataclass
class AuditReport:
    chain: VerifyReport
    checkpoint: StoredCheckpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the checkpoint itself
    unanchored: int = 0  # events after the checkpoint: not anchored yet

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.findings and not self.problems


class Verification:
    """`parcelflow verify`: every chain to its head, every head against the newest
    checkpoint (from the database, or as published elsewhere)."""

    def __init__(self, service: ParcelService, store: CheckpointStore,
                 verifier: CheckpointVerifier | None, max_merge_delay: timedelta):
        self.service = service
        self.store = store
        self.verifier = verifier
        self.max_merge_delay = max_merge_delay

    def run(self, tracking_no: str | None = None, *, published: list[str] | None = None,
            progress: Callable[[int, int], None] | None = None) -> AuditReport:
        """`published`: signed notes read back from where checkpoints were written; the
        newest of them is the one to check against."""
        problems: list[str] = []
        stored, anchors = self._anchors(published, problems)
        if stored is not None and self.verifier is not None:
            left = moved_away(self.store, self.verifier, stored.checkpoint)
            problems += left.problems
            # A parcel whose bucket moved to another shard after this checkpoint is there
            # now (its chain was checked equal before the drop): not a deletion here.
            anchors = {n: h for n, h in anchors.items()
                       if bucket_of(n) not in left.buckets}
        if tracking_no is not None:
            anchors = {n: h for n, h in anchors.items() if n == tracking_no}
        by_pid = {parcel_id(n): h for n, h in anchors.items()}
        seen: dict[UUID, Seen] = {}
        unanchored = 0  # events no checkpoint covers yet

        def look(pid: UUID, version: int, fields: dict[str, Any], ok: bool) -> None:
            nonlocal unanchored
            anchor = by_pid.get(pid)
            if anchor is None:
                unanchored += 1
                return
            s = seen.setdefault(pid, Seen(later=[]))
            s.last_version = version
            if version == anchor.version:
                s.at_anchor = (fields.get("event_hash", ""), fields.get("previous_hash", ""))
            elif version > anchor.version:
                unanchored += 1
                s.later.append((version, fields["recorded_at"]))  # type: ignore[union-attr]

        if tracking_no is not None:
            try:
                chain = verify(self.service, tracking_no, seen=look)
            except ParcelNotFound:
                if not anchors:
                    raise
                chain = VerifyReport(parcels=1)
        else:
            chain = verify_all(self.service, progress=progress, seen=look)
        findings = []
        if stored is not None:
            for pid, anchor in by_pid.items():
                findings += judge(anchor, seen.get(pid), stored.checkpoint, self.max_merge_delay)
        return AuditReport(chain, stored, findings, problems, unanchored)

    def _anchors(self, published: list[str] | None, problems: list[str]
                 ) -> tuple[StoredCheckpoint | None, dict[str, Head]]:
        """The checkpoint to check against and its heads by tracking number, once its
        signature and its stored heads hold; (None, {}) and a problem when not."""
        if published:
            try:
                checkpoint = self._open(published[-1])
            except CheckpointError as e:
                problems.append(f"the newest published checkpoint: {e}")
                return None, {}
            stored = self.store.find(checkpoint)
            if stored is None:
                problems.append(
                    f"the checkpoint published at {checkpoint.made_at.isoformat()} (position "
                    f"{checkpoint.position}) is not in the database: it was deleted")
                return None, {}
        else:
            stored = self.store.newest()
            if stored is None:
                return None, {}
            try:
                checkpoint = self._open(stored.note)
            except CheckpointError as e:
                problems.append(f"checkpoint {stored.id}: {e}")
                return None, {}
        if checkpoint != stored.checkpoint:
            problems.append(f"checkpoint {stored.id}: its stored columns differ from its "
                            "signed text (the row was altered)")
            return None, {}
        heads = ordered([a.head for a in self.store.heads(stored.id)])
        if len(heads) != checkpoint.tree_size or \
                merkle.root(leaf_hashes(heads)) != checkpoint.root:
            problems.append(f"checkpoint {stored.id}: the heads stored for it do not hash to "
                            "its signed root (the checkpoint's rows were altered)")
            return None, {}
        return stored, {h.tracking_no: h for h in heads}

    def _open(self, note: str) -> Checkpoint:
        if self.verifier is None:
            raise CheckpointError("no key to check its signature with: set "
                                  "PARCELFLOW_CHECKPOINT_PUBLIC_KEY (or PARCELFLOW_CHECKPOINT_KEY)")
        try:
            return Checkpoint.parse(self.verifier.open(note))
        except BadSignature as e:
            raise CheckpointError(str(e)) from None
        except ValueError as e:
            raise CheckpointError(f"not a checkpoint ({e})") from None

    def proof(self, tracking_no: str) -> dict[str, Any]:
        """An inclusion proof of the parcel's head in the newest checkpoint: everything a
        third party needs besides the verifier key."""
        stored = self.store.newest()
        if stored is None:
            raise CheckpointError("no checkpoint has been made yet (`parcelflow checkpoint`)")
        heads = ordered([a.head for a in self.store.heads(stored.id)])
        index = next((i for i, h in enumerate(heads) if h.tracking_no == tracking_no), None)
        if index is None:
            raise ParcelNotFound(tracking_no)
        proof = merkle.inclusion_proof(leaf_hashes(heads), index)
        return {
            "tracking_no": tracking_no,
            "leaf": heads[index].leaf().decode(),
            "leaf_index": index,
            "tree_size": len(heads),
            "proof": [p.hex() for p in proof],
            "checkpoint": stored.note,
            "checkpoint_id": stored.id,
        }
