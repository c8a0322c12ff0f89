"""`parcelflow shards move BUCKET --to URL`: a bucket's parcels to another shard, live.

The steps, each safe to crash in and each done again (or skipped) by a re-run:

1. **Copy** the bucket's events, in the source's log order, chunk by chunk, with their
   data keys; each chunk and how far the copy got commit together on the target
   (`adapters/bucket_moves.py`). Ingest goes on meanwhile on the source; catch-up
   passes copy what it wrote, until little is left.
2. **Fence and switch.** The source's ownership row is locked FOR UPDATE (writers of
   the bucket wait), the rest is copied, the row flips to `owned = false` and commits;
   the target then takes the bucket (its row `owned = true`) and the map's row is
   updated. Writers are paused from the lock to the switch and then retry on the
   target (`application/sharding.py`). At no moment do two shards accept a write to
   the bucket: the target refuses it until the source has given it up.
3. **Verify** the copy: for every parcel, the source's events are the target's first
   events, byte for byte, their count equal, and the target's chain holds.
4. **Wait** for every follower of the source's log (read models, relay) to have passed
   the bucket's last event there: they saw those events on the source and skip the
   copies on the target; the source's copies may go only once nobody still needs them.
5. **Drop** the source's events and keys of the bucket, recording a signed fact that
   checkpoints and `verify` know (a bucket that left is not a deletion).

Before the switch, `--abort` gives the bucket back to the source and deletes the
target's copies (recording that drop on the target in the same way).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from parcelflow import failpoints
from parcelflow.application.audit import ChainWalk
from parcelflow.domain import merkle
from parcelflow.domain.buckets import BUCKETS
from parcelflow.domain.checkpoint import Head, leaf_hashes, ordered

Progress = Callable[[str, int, int], None]  # (what, done, total)


class MoveError(Exception):
    """A move that cannot go on now (the message says what to do)."""


@dataclass
class MoveReport:
    bucket: int
    source: str
    target: str
    phase: str
    copied_events: int = 0
    copy_seconds: float = 0.0
    pause_seconds: float | None = None  # writes to the bucket held back (lock to switch)
    parcels: int = 0
    dropped_events: int = 0
    notes: list[str] = field(default_factory=list)
    heads_root: bytes = b""  # the moved parcels' heads, as the drop record names them
    switched_at: float | None = None  # time.perf_counter() at the switch

    @property
    def rate(self) -> float:
        return self.copied_events / self.copy_seconds if self.copy_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "source": self.source, "target": self.target,
                "phase": self.phase, "copied_events": self.copied_events,
                "copy_seconds": round(self.copy_seconds, 3),
                "events_per_second": round(self.rate, 1),
                "pause_ms": None if self.pause_seconds is None else
                round(self.pause_seconds * 1000, 1),
                "parcels": self.parcels, "dropped_events": self.dropped_events,
                "notes": self.notes}


def drop_text(shard: str, bucket: int, position: int, reason: str, target: str,
              parcels: int, events: int, heads_root: bytes, at: datetime) -> str:
    """The record of a bucket's events deleted from a shard, as it is signed."""
    return (f"parcelflow bucket drop\nshard {shard}\nbucket {bucket}\nposition {position}\n"
            f"reason {reason}\nto {target}\nparcels {parcels}\nevents {events}\n"
            f"heads {heads_root.hex()}\ntime {at.astimezone(timezone.utc).isoformat()}\n")


class BucketMoves:
    CHUNK = 5000  # events per copy transaction
    FENCE_AT = 1000  # a catch-up pass that found fewer events than this: fence now

    def __init__(self, service: Any, sides: Sequence[Any], urls: Sequence[str],
                 names: Sequence[str], shard_map: Any, moves: Any, *,
                 signer: Any | None, has_checkpoints: Callable[[int], bool],
                 followers: Callable[[int], dict[str, int]],
                 follower_wait: float = 300.0):
        self.service = service
        self.sides = list(sides)
        self.urls = list(urls)
        self.names = list(names)
        self.map = shard_map
        self.moves = moves
        self.signer = signer
        self.has_checkpoints = has_checkpoints
        self.followers = followers
        self.follower_wait = follower_wait

    # ---- what is where ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        layout = self.map.layout(self.urls)
        return {"shards": [{"shard": name, "buckets": [b for b in range(BUCKETS)
                                                       if layout[b] == i]}
                           for i, name in enumerate(self.names)],
                "moves": [{k: (v.isoformat() if isinstance(v, datetime) else v)
                           for k, v in row.items()} for row in self.moves.all()]}

    def _target_index(self, url: str) -> int:
        from parcelflow.adapters.shard_map import shard_name

        try:
            return self.names.index(shard_name(url))
        except ValueError:
            raise MoveError("--to: not one of the shards in PARCELFLOW_SHARDS (list the new "
                            "server's URL there first; listing it moves nothing)") from None

    def _active(self, bucket: int) -> dict[str, Any] | None:
        row = self.moves.get(bucket)
        return row if row and row["phase"] not in ("done", "aborted") else None

    # ---- the move -----------------------------------------------------------------

    def move(self, bucket: int, to: str, progress: Progress | None = None) -> MoveReport:
        if not 0 <= bucket < BUCKETS:
            raise MoveError(f"bucket: between 0 and {BUCKETS - 1}")
        target = self._target_index(to)
        layout = self.map.layout(self.urls)
        row = self._active(bucket)
        if row is not None and row["target"] != self.names[target]:
            raise MoveError(f"bucket {bucket} is being moved to {row['target']}: run the "
                            "same command again to finish that, or --abort it")
        if row is None:
            if layout[bucket] == target:
                return MoveReport(bucket, self.names[target], self.names[target], "done",
                                  notes=[f"bucket {bucket} is on {self.names[target]} already"])
            source = layout[bucket]
            self._need_signer(source)
            self.sides[target].forget_copy(bucket)  # from an earlier move of it, if any
            self.moves.start(bucket, self.names[source], self.names[target])
        else:
            source = self.names.index(row["source"])
        src, dst = self.sides[source], self.sides[target]
        report = MoveReport(bucket, src.name, dst.name, "copying")
        if layout[bucket] != target:
            self._copy_and_switch(bucket, src, dst, to, report, progress)
        report.phase = "switched"
        self._verify(bucket, src, dst, report, progress)
        self._wait_for_followers(bucket, source, src, dst, progress)
        self._need_signer(source)
        if src.count(bucket):
            _, _, report.dropped_events = src.drop(
                bucket, "moved", lambda position, parcels, events: self._signed(
                    src.name, bucket, position, "moved", dst.name, parcels, events,
                    report.heads_root))
        failpoints.reached("shards.move.after_drop")
        dst.forget_copy(bucket)
        report.phase = "done"
        self.moves.update(bucket, "done")
        return report

    def _need_signer(self, shard: int) -> None:
        if self.signer is None and self.has_checkpoints(shard):
            raise MoveError(f"{self.names[shard]} keeps checkpoints: dropping a bucket from "
                            "it is recorded signed, so set PARCELFLOW_CHECKPOINT_KEY")

    def _copy_chunk(self, bucket: int, src: Any, dst: Any, rows: list[tuple[Any, ...]],
                    all_keys: bool = False) -> int:
        pids = sorted({r[1] for r in rows})
        keys = src.keys(bucket) if all_keys else src.keys(bucket, pids)
        upto = rows[-1][0] if rows else dst.copied(bucket).upto
        dst.write_copy(bucket, src.name, rows, keys, upto)
        return len(rows)

    def _copy_and_switch(self, bucket: int, src: Any, dst: Any, to: str, report: MoveReport,
                         progress: Progress | None) -> None:
        started = time.perf_counter()
        copied = dst.copied(bucket)
        if copied is None:  # killed before the copy began: begin it
            dst.start_copy(bucket, src.name)
            copied = dst.copied(bucket)
        total = copied.events + src.count(bucket, copied.upto)
        done = copied.events

        def shown() -> None:
            if progress:
                progress("copying", done, max(total, done))

        shown()
        locked_at: float | None = None
        if src.owned(bucket):
            src.arm_fence(bucket)
            while True:  # the bulk copy, then catch-up passes while ingest goes on
                rows = src.read_after(bucket, dst.copied(bucket).upto, self.CHUNK)
                if len(rows) < self.FENCE_AT:
                    break
                done += self._copy_chunk(bucket, src, dst, rows)
                report.copied_events += len(rows)
                total = max(total, done + src.count(bucket, rows[-1][0]))
                shown()
                failpoints.reached("shards.move.after_chunk")
            # Writers of the bucket wait from the lock request on (row locks queue: a
            # share lock asked after it waits behind it), so the pause is timed from here.
            locked_at = time.perf_counter()
            with src.fenced(bucket):
                report.copied_events += self._copy_rest(bucket, src, dst)
                failpoints.reached("shards.move.before_fence")
            # The source gave the bucket up (committed); nobody takes writes to it until
            # the target does, below.
        else:  # fenced by a run that was killed after: whatever is left, then the switch
            report.copied_events += self._copy_rest(bucket, src, dst)
        failpoints.reached("shards.move.fenced")
        dst.set_owned(bucket, True)
        self.map.assign(bucket, to)
        switched = time.perf_counter()
        done = dst.copied(bucket).events
        total = done
        shown()
        report.copy_seconds = switched - started
        report.pause_seconds = None if locked_at is None else switched - locked_at
        report.switched_at = switched
        self.moves.update(bucket, "switched", copied_events=done,
                          pause_ms=None if locked_at is None else report.pause_seconds * 1000)
        failpoints.reached("shards.move.after_switch")

    def _copy_rest(self, bucket: int, src: Any, dst: Any) -> int:
        """Everything not copied yet, and every key of the bucket (an erasure during the
        copy reaches the target): the source takes no writes to it any more."""
        copied = 0
        while True:
            rows = src.read_after(bucket, dst.copied(bucket).upto, self.CHUNK)
            if not rows:
                break
            copied += self._copy_chunk(bucket, src, dst, rows)
        self._copy_chunk(bucket, src, dst, [], all_keys=True)
        return copied

    # ---- checking the copy --------------------------------------------------------

    def _verify(self, bucket: int, src: Any, dst: Any, report: MoveReport,
                progress: Progress | None) -> None:
        pids = src.parcels(bucket)
        report.parcels = len(pids)
        problems: list[str] = []
        heads: list[Head] = []
        page = 2000
        for start in range(0, len(pids), page):
            part = pids[start:start + page]
            theirs = src.service.recorder.select_events_for(part)
            ours = dst.service.recorder.select_events_for(part)
            for pid in part:
                problems += self._compare(pid, theirs.get(pid, []), ours.get(pid, []), dst,
                                          heads)
            if progress:
                progress("verifying", min(start + page, len(pids)), len(pids))
        their_keys = {k[0]: (k[1], k[3]) for k in src.keys(bucket)}
        our_keys = {k[0]: (k[1], k[3]) for k in dst.keys(bucket, list(their_keys))}
        differ = [pid for pid, key in their_keys.items() if our_keys.get(pid) != key]
        if differ:
            problems.append(f"{len(differ)} data keys differ between the shards")
        if problems:
            self.moves.update(bucket, "switched")
            raise MoveError("the copy does not match, the source's copy is kept: "
                            + "; ".join(problems[:5]))
        report.heads_root = merkle.root(leaf_hashes(ordered(heads)))

    def _compare(self, pid: UUID, theirs: list[Any], ours: list[Any], dst: Any,
                 heads: list[Head]) -> list[str]:
        if not theirs:
            return []
        last = theirs[-1].originator_version
        prefix = [e for e in ours if e.originator_version <= last]
        if len(prefix) != len(theirs):
            return [f"parcel {pid}: {len(theirs)} events on the source, {len(prefix)} copied"]
        if any((a.originator_version, a.topic, a.state) != (b.originator_version, b.topic, b.state)
               for a, b in zip(theirs, prefix, strict=True)):
            return [f"parcel {pid}: a copied event differs from the source's"]
        walk = ChainWalk(dst.service)
        for event in ours:
            walk.check(event)
        if walk.broken:
            return [f"parcel {pid}: its chain on the target does not hold"]
        first = dst.service.mapper.to_domain_event(theirs[0])
        head = dst.service.mapper.to_domain_event(theirs[-1])
        heads.append(Head(first.tracking_no, last, head.event_hash, head.previous_hash))
        return []

    # ---- before the drop ----------------------------------------------------------

    def _wait_for_followers(self, bucket: int, source: int, src: Any, dst: Any,
                            progress: Progress | None) -> None:
        copied = dst.copied(bucket)
        needed = copied.upto if copied else 0
        deadline = time.monotonic() + self.follower_wait
        while True:
            behind = {name: at for name, at in self.followers(source).items() if at < needed}
            if not behind:
                return
            if progress:
                progress("waiting for followers", 0, len(behind))
            if time.monotonic() > deadline:
                names = ", ".join(f"{n} (at {at})" for n, at in sorted(behind.items()))
                raise MoveError(
                    f"the source's copy is kept: these followers of its log have not passed "
                    f"notification {needed} yet: {names}. Run them, then the same command "
                    "again (or remove a follower that no longer runs)")
            time.sleep(0.5)

    def _signed(self, shard: str, bucket: int, position: int, reason: str, target: str,
                parcels: int, events: int, heads_root: bytes) -> str:
        text = drop_text(shard, bucket, position, reason, target, parcels, events,
                         heads_root, self.service.clock())
        return self.signer.sign(text) if self.signer is not None else text

    # ---- giving up ----------------------------------------------------------------

    def abort(self, bucket: int) -> MoveReport:
        row = self._active(bucket)
        if row is None:
            raise MoveError(f"no move of bucket {bucket} is in progress")
        source, target = self.names.index(row["source"]), self.names.index(row["target"])
        if self.map.layout(self.urls)[bucket] == target:
            raise MoveError(f"bucket {bucket} is on {row['target']} already (the map "
                            "switched): move it back with `parcelflow shards move "
                            f"{bucket} --to <the source's URL>`")
        src, dst = self.sides[source], self.sides[target]
        self._need_signer(target)
        dst.set_owned(bucket, False)  # first: at no moment do both take writes
        src.set_owned(bucket, True)
        report = MoveReport(bucket, src.name, dst.name, "aborted")
        if dst.count(bucket):
            _, _, report.dropped_events = dst.drop(
                bucket, "aborted", lambda position, parcels, events: self._signed(
                    dst.name, bucket, position, "aborted", src.name, parcels, events,
                    merkle.root([])))
        dst.forget_copy(bucket)
        self.moves.update(bucket, "aborted")
        return report
