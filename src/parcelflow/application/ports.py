"""What the application needs from the world outside it, as interfaces, with the fakes
unit tests use in their place.

The real ones are adapters (`adapters/store.py`: the SQLite and PostgreSQL recorders;
`adapters/keystore.py`: the key tables; `adapters/checkpoint_store.py`,
`checkpoint_sinks.py` and `signing.py`: where checkpoints are kept and published, and
their Ed25519 signed notes), which the integration tests run against real databases.
The fakes keep everything in memory: they let a unit test isolate a use case in
milliseconds, beside — never instead of — those tests.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from parcelflow.domain.checkpoint import AnchoredHead, Checkpoint, StoredCheckpoint


class ParcelRecorder(ApplicationRecorder):
    """The event store, as the library's application recorder plus the batch reads it
    lacks: the library reads one aggregate per query, and a batch touches hundreds."""

    @abstractmethod
    def select_events_for(self, ids: Collection[UUID],
                          upto: int | None = None) -> dict[UUID, list[StoredEvent]]:
        """Each parcel's events in version order (only those up to notification `upto`);
        parcels with none are left out."""

    def select_events_in(self, versions: Mapping[UUID, range]) -> dict[UUID, list[StoredEvent]]:
        """Each parcel's events whose versions fall in the range given for it (a step-1
        range: `range(6, 9)` is versions 6 to 8), in version order; parcels with none are
        left out. For a reader that keeps parcels folded: it reads the events it is
        about to fold, not each parcel's whole history again. (Here by filtering
        `select_events_for`; the PostgreSQL recorder reads only those rows.)"""
        return {pid: inside for pid, events in self.select_events_for(list(versions)).items()
                if (inside := [e for e in events if e.originator_version in versions[pid]])}

    @abstractmethod
    def max_versions(self, ids: Collection[UUID]) -> dict[UUID, int]:
        """Each stored parcel's current version (which of a batch another writer moved)."""

    @abstractmethod
    def parcel_ids(self, upto: int) -> list[UUID]:
        """Every parcel with an event up to notification `upto`."""

    @abstractmethod
    def count_after(self, position: int) -> int:
        """How many events the log holds after `position` (ids may have gaps)."""


class KeyStore(ABC):
    """Each parcel's data key, which seals its personal data. Erasing a parcel's
    personal data destroys its key; the parcel then reads None for good."""

    @abstractmethod
    def ensure(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        """Each parcel's key, creating the missing ones (None: destroyed)."""

    @abstractmethod
    def keys(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        """Known parcels' keys (None: destroyed); unknown parcels are left out."""

    @abstractmethod
    def destroy(self, parcel_id: UUID) -> bool:
        """Destroy a parcel's key; False when it had none (or it was already destroyed)."""


class CheckpointStore(ABC):
    """Signed checkpoints and the heads each one commits to, beside the events."""

    @abstractmethod
    def newest(self) -> StoredCheckpoint | None: ...

    @abstractmethod
    def find(self, checkpoint: Checkpoint) -> StoredCheckpoint | None:
        """The stored checkpoint with this position and root (one published elsewhere)."""

    @abstractmethod
    def heads(self, checkpoint_id: int) -> list[AnchoredHead]:
        """Every head checkpoint `checkpoint_id` commits to (in no particular order)."""

    @abstractmethod
    def save(self, checkpoint_id: int, checkpoint: Checkpoint, note: str,
             changed: list[AnchoredHead], removed: Sequence[AnchoredHead] = ()) -> None:
        """The checkpoint and the heads that changed since the one before, together;
        `removed`: parcels it no longer commits to (their bucket left the shard)."""

    def drops(self) -> list[tuple[int, int, str]]:
        """Buckets whose events this store deleted after they moved away: (bucket, log
        position then, the signed record), oldest first (`adapters/bucket_moves.py`)."""
        return []


class CheckpointSink(Protocol):
    """Somewhere a checkpoint is also written, out of the database administrator's reach."""

    def publish(self, stored: StoredCheckpoint) -> None: ...

    def close(self) -> None: ...


class CheckpointSigner(Protocol):
    name: str  # the key's name: the checkpoints' origin

    def sign(self, text: str) -> str:
        """The signed note of `text`."""


class CheckpointVerifier(Protocol):
    def open(self, note: str) -> str:
        """The note's text once its signature verifies (`errors.BadSignature` if not)."""


# ---- fakes -----------------------------------------------------------------------------


class InMemoryKeyStore(KeyStore):
    """Keys in a dict: a fake for unit tests."""

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes | None] = {}

    def ensure(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        for pid in ids:
            self._keys.setdefault(pid, os.urandom(32))  # an AES-256 key
        return self.keys(ids)

    def keys(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        return {pid: self._keys[pid] for pid in ids if pid in self._keys}

    def destroy(self, parcel_id: UUID) -> bool:
        if self._keys.get(parcel_id) is None:
            return False
        self._keys[parcel_id] = None
        return True


class InMemoryParcelRecorder(POPOApplicationRecorder, ParcelRecorder):
    """The library's in-memory recorder, with the batch reads: a fake for unit tests.
    Like the real ones, it refuses a second event for a parcel's version (IntegrityError)."""

    def _log(self, upto: int | None = None) -> list[Any]:
        return list(self.select_notifications(start=None, limit=1 << 62, stop=upto))

    def select_events_for(self, ids: Collection[UUID],
                          upto: int | None = None) -> dict[UUID, list[StoredEvent]]:
        wanted, found = set(ids), defaultdict(list)
        for n in self._log(upto):  # in log order, so each parcel's in version order
            if n.originator_id in wanted:
                found[n.originator_id].append(
                    StoredEvent(n.originator_id, n.originator_version, n.topic, n.state))
        return dict(found)

    def max_versions(self, ids: Collection[UUID]) -> dict[UUID, int]:
        return {pid: events[-1].originator_version
                for pid, events in self.select_events_for(ids).items()}

    def parcel_ids(self, upto: int) -> list[UUID]:
        return list(dict.fromkeys(n.originator_id for n in self._log(upto)))

    def count_after(self, position: int) -> int:
        return sum(1 for n in self._log() if n.id > position)


class InMemoryFactory(POPOFactory):
    """`PERSISTENCE_MODULE` for an application on the fakes:
    `parcelflow.application.ports:InMemoryFactory`."""

    def application_recorder(self) -> ApplicationRecorder:
        return InMemoryParcelRecorder()


IN_MEMORY = {"PERSISTENCE_MODULE": f"{__name__}:InMemoryFactory"}
