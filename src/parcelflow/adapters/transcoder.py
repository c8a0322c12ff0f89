"""The library's JSON transcoder, encoding with orjson.

Same stored format byte for byte (`{"_type_": "datetime_iso", "_data_": ...}` for the
registered types), so the library's own decoder reads every event and nothing in the
store depends on this class. Encoding is on the ingest path's critical line; the stdlib
encoder called back into Python for every datetime of every event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Transcoding

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


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _flat(obj: Any) -> dict[str, Any] | None:
    """A flat event state (what most events are: strings, numbers, times) with its
    datetimes already in their stored form, or None for anything else.

    The library's form of a datetime is `{"_type_": "datetime_iso", "_data_":
    isoformat()}` (eventsourcing's DatetimeAsISO); writing it here saves orjson a call
    back into Python per datetime (three per event) and the separate `_has_uuid` walk.
    Measured on the warm ingest: the encode went from ~8.5 to ~3 us an event. Only
    exact `datetime`s (a subclass has no registered transcoding) and flat values qualify;
    tests/unit/test_transcoder.py checks every kind of event byte for byte against the
    library's encoder."""
    if type(obj) is not dict:
        return None
    out = {}
    for key, value in obj.items():
        kind = type(value)
        if kind is datetime:
            value = {"_type_": "datetime_iso", "_data_": value.isoformat()}
        elif kind not in _PLAIN:
            return None
        out[key] = value
    return out


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        flat = _flat(obj)
        if flat is not None and self._datetime_is_iso:
            return orjson.dumps(flat)
        if _has_uuid(obj):
            return super().encode(obj)
        return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)

    _datetime_is_iso = False  # whether `_flat`'s form of a datetime is the registered one

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._datetime_is_iso = type(self.types.get(datetime)) is DatetimeAsISO

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
