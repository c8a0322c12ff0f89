"""The library's JSON transcoder, encoding with orjson.

Same stored format byte for byte (`{"_type_": "datetime_iso", "_data_": ...}` for the
registered types), so the library's own decoder reads every event and nothing in the
store depends on this class. Encoding is on the ingest path's critical line; the stdlib
encoder called back into Python for every datetime of every event.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME  # datetimes go through the registered transcoding


def _has_uuid(obj: Any, depth: int = 2) -> bool:
    # orjson writes UUIDs natively as plain strings, which would come back as str; the
    # rare object holding one is left to the library's encoder.
    if isinstance(obj, UUID):
        return True
    if depth and isinstance(obj, dict):
        return any(_has_uuid(v, depth - 1) for v in obj.values())
    if depth and isinstance(obj, (list, tuple)):
        return any(_has_uuid(v, depth - 1) for v in obj)
    return False


class OrjsonTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        if _has_uuid(obj):
            return super().encode(obj)
        return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)
