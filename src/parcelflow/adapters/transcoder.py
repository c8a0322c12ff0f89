"""The library's JSON transcoder, encoding with orjson; and its mapper, storing flat
events without the transcoder's callbacks.

Same stored format byte for byte (`{"_type_": "datetime_iso", "_data_": ...}` for the
registered types), so the library's own decoder reads every event and nothing in the
store depends on this class. Encoding is on the ingest path's critical line; the stdlib
encoder called back into Python for every datetime of every event.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from parcelflow.domain.times import plain_tz

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME  # datetimes go through the registered transcoding


_SCALARS = frozenset({str, int, float, bool, type(None), datetime})


def _has_uuid(obj: Any, depth: int = 2) -> bool:
    # orjson writes UUIDs natively as plain strings, which would come back as str; the
    # rare object holding one is left to the library's encoder. Runs for every event
    # stored, so the common values (strings, numbers, times) are passed over by type.
    if isinstance(obj, UUID):
        return True
    if not depth:
        return False
    if isinstance(obj, dict):
        values: Any = obj.values()
    elif isinstance(obj, (list, tuple)):
        values = obj
    else:
        return False
    for value in values:
        if type(value) not in _SCALARS and _has_uuid(value, depth - 1):
            return True
    return False


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        if _has_uuid(obj):
            return super().encode(obj)
        return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        # Measured on stored events: 32 us with the stdlib's object_hook, 18 us this way.
        return self._revive(orjson.loads(data))

    def _revive(self, obj: Any) -> Any:
        """Turn the `{"_type_": ..., "_data_": ...}` objects back into their types,
        innermost first, as the library's object_hook does."""
        if type(obj) is dict:
            for key, value in obj.items():
                if type(value) is dict:
                    # The common case inline: a registered type holding a plain string.
                    if len(value) == 2 and type(value.get("_data_")) is str \
                            and "_type_" in value:
                        obj[key] = self._decode_obj(value)
                    else:
                        obj[key] = self._revive(value)
                elif type(value) is list:
                    obj[key] = self._revive(value)
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                return self._decode_obj(obj)
            return obj
        if type(obj) is list:
            return [self._revive(v) if type(v) is dict or type(v) is list else v for v in obj]
        return obj


# ---- the mapper -------------------------------------------------------------------------

def stored_event(originator_id: UUID, originator_version: int, topic: str,
                 state: bytes) -> StoredEvent:
    """`StoredEvent(...)` without the frozen dataclass's setattr per field: one for every
    event stored, and for every event of every parcel a cold batch loads.
    tests/unit/test_transcoder.py and tests/integration/test_store_contract.py compare
    it with the constructor's."""
    event = object.__new__(StoredEvent)
    object.__setattr__(event, "__dict__", {"originator_id": originator_id,
                                           "originator_version": originator_version,
                                           "topic": topic, "state": state})
    return event


_READ_CACHE = 4096  # texts of datetimes remembered by to_domain_event
_FLAT_TYPES = frozenset({str, int, float, bool, type(None), datetime})
_POPPED = ("originator_id", "originator_version")  # kept in their own columns


def _flat_plan(cls: type) -> tuple[frozenset[str], tuple[str, ...]] | None:
    """For an event class whose every stored field is a str, number, bool, None or
    datetime (by its annotations): its field names and those that may hold a datetime.
    None for anything else (dicts, lists, UUIDs, Decimals, an upcast class version)."""
    if not dataclasses.is_dataclass(cls) or getattr(cls, "class_version", 1) != 1:
        return None
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 — an annotation that does not resolve: the library's way
        return None
    names = [f.name for f in dataclasses.fields(cls) if f.name not in _POPPED]
    times = []
    for name in names:
        kinds = set(typing.get_args(hints[name])) or {hints[name]}
        if not kinds <= _FLAT_TYPES:
            return None
        if datetime in kinds:
            times.append(name)
    return frozenset(names), tuple(times)


_ALIKE: dict[Any, bool] = {}  # tzinfo -> written_as_isoformat (a few offsets in a log)


def written_as_isoformat(tz: Any) -> bool:
    """Whether orjson writes every datetime of this tzinfo as `isoformat()` does: a
    fixed offset of whole minutes (every offset the wire accepts; UTC). Not a seconds
    offset (orjson rounds it to minutes), not a zone whose offset moves (historic
    offsets of seconds), not a naive datetime. Remembered per tzinfo: asked for every
    datetime stored and every timeline line rendered. tests/unit/test_transcoder.py
    compares the bytes with the library's for each."""
    found = _ALIKE.get(tz)
    if found is None:
        found = _ALIKE[tz] = (type(tz) is timezone
                              and tz.utcoffset(None) % timedelta(minutes=1) == timedelta(0))
    return found


class ParcelMapper(Mapper[UUID]):
    """The library's mapper, with a shorter way to store the flat events (scans and
    the exception workflow's: most of the log).

    For those, the stored state is built directly: the event's fields without the two
    kept in their own columns, each datetime in the library's registered form
    (`{"_type_": "datetime_iso", "_data_": isoformat()}`, eventsourcing's
    DatetimeAsISO; the text written by orjson itself where it is isoformat()'s), one
    `orjson.dumps` with no callback. Measured: 4.7 against
    8.5 us an event (the library's `to_stored_event` then the transcoder's callback per
    datetime and its UUID walk). The bytes are the library's own, checked for every
    kind of event in tests/unit/test_transcoder.py; any other event, or a mapper with a
    cipher or compressor, or a transcoder whose datetimes are stored otherwise, takes
    the library's path.
    """

    def __init__(self, transcoder: Any, compressor: Any = None, cipher: Any = None):
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self._plans: dict[type, tuple[str, frozenset[str], tuple[str, ...]] | None] = {}
        self._topics: dict[str, tuple[type, frozenset[str], tuple[str, ...]] | None] = {}
        # (a datetime, its isoformat()): see _iso. The objects are held, so an id is
        # never reused while remembered.
        self._read: dict[str, datetime] = {}  # see _datetime
        self._last: tuple[Any, str] = (None, "")
        self._before: tuple[Any, str] = (None, "")

    def _fast(self) -> bool:
        return (self.cipher is None and self.compressor is None
                and isinstance(self.transcoder, JSONTranscoder)
                and type(self.transcoder.types.get(datetime)) is DatetimeAsISO)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        try:
            plan = self._plans[cls]
        except KeyError:
            found = _flat_plan(cls) if self._fast() else None
            plan = self._plans[cls] = (
                (get_topic(cls), found[0] | frozenset(_POPPED), found[1]) if found else None)
        state = vars(domain_event).copy()
        if plan is None or state.keys() != plan[1]:  # exactly its fields, no more
            return super().to_stored_event(domain_event)
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        for name in plan[2]:
            value = state[name]
            if type(value) is datetime:
                native = _ALIKE.get(value.tzinfo)  # the memo itself: a call a datetime
                if native is None:  # cost 1,500 instructions a scan (callgrind)
                    native = written_as_isoformat(value.tzinfo)
                # orjson writes the datetime itself (in Rust) where its text is
                # isoformat()'s: ~10,000 instructions fewer a datetime (callgrind).
                state[name] = {"_type_": "datetime_iso",
                               "_data_": value if native else self._iso(value)}
            elif value is not None:
                return super().to_stored_event(domain_event)
        return stored_event(originator_id, originator_version, plan[0], orjson.dumps(state))

    def _iso(self, value: datetime) -> str:
        """`value.isoformat()` (for the datetimes orjson would write otherwise: see
        `written_as_isoformat`), remembered for the last two datetime objects: an event's
        `timestamp` and `recorded_at` are one object, the batch's server time, for
        every event of a batch. `isoformat` costs ~10,000 instructions (callgrind): it
        was three of them per scan, 7% of a warm ingest. By identity, never by
        equality: equal datetimes of different offsets have different texts."""
        last, before = self._last, self._before  # each pair read once: threads share this
        if value is last[0]:
            return last[1]
        if value is before[0]:  # (the batch's time, after an occurred_at): keep it last
            self._before, self._last = last, before
            return before[1]
        text = value.isoformat()
        self._before, self._last = last, (value, text)
        return text

    def _datetime(self, text: str) -> datetime:
        """`datetime.fromisoformat(text)`, with the shared tzinfo of its offset
        (domain/times.py: times of one offset then compare field by field), and
        remembered by its text: the events of one batch share their `timestamp` and
        `recorded_at`, so a cold load parses most of them once. Datetimes are
        immutable, so sharing one between events changes nothing."""
        found = self._read.get(text)
        if found is None:
            if len(self._read) >= _READ_CACHE:
                self._read.clear()
            found = self._read[text] = plain_tz(datetime.fromisoformat(text))
        return found

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        topic = stored_event.topic
        try:
            plan = self._topics[topic]
        except KeyError:
            cls = resolve_topic(topic)
            found = _flat_plan(cls) if self._fast() else None
            plan = self._topics[topic] = (cls, *found) if found else None
        if plan is None or type(stored_event.originator_id) is not UUID:
            return super().to_domain_event(stored_event)
        cls, names, times = plan
        data = stored_event.state
        state = orjson.loads(data)
        if state.keys() != names:
            return super().to_domain_event(stored_event)
        revived = 0
        for name in times:
            value = state[name]
            if type(value) is dict:
                if len(value) != 2 or value.get("_type_") != "datetime_iso":
                    return super().to_domain_event(stored_event)
                state[name] = self._datetime(value["_data_"])
                revived += 1
        if data.count(b'"_type_":') != revived:
            return super().to_domain_event(stored_event)
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event
