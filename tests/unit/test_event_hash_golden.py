"""The canonical form of an event's hash, pinned.

Every stored event's `event_hash` and every checkpoint rests on this form: if it
changed, every chain on record would fail `verify`. The expected digest was computed
outside parcelflow, from the canonical text written out by hand below:

    printf '%s' "$CANONICAL" | sha256sum

The canonical text is JSON: `[topic, fields]`, the fields without `event_hash`, keys
sorted, no whitespace, UTF-8 as is (no \\u escapes), times in RFC 3339 with their
offset, UUIDs as strings.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from uuid import UUID

from parcelflow.domain.parcel import Parcel

CANONICAL = (
    '["parcelflow.domain.parcel:Parcel.ScanRecorded",{"attempt_reason":null,'
    '"device_id":"scanner-17","exception_code":null,"facility":"SZX-HUB-01",'
    '"facility_kind":"hub","next_facility":null,"note":"外包装破损",'
    '"occurred_at":"2026-11-22T08:15:03+08:00","operator_id":"emp-0042",'
    '"originator_id":"6f0e9a52-2f4b-5d8e-9a51-3c1f0c7d2b10","originator_version":2,'
    '"previous_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"recorded_at":"2026-11-22T09:00:00+00:00","scan_id":"0f9b8c1e-scan",'
    '"scan_type":"arrival","signed_by":null,"timestamp":"2026-11-22T09:00:00+00:00"}]'
)
EXPECTED = "3ab75c8ed49872b660c531012284dc4dcb12cf445d3e4d7165c267dd5ad7f8cb"


def test_a_fixed_scan_event_hashes_to_its_pinned_digest():
    cst = timezone(timedelta(hours=8))
    recorded = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
    event = Parcel.ScanRecorded(
        originator_id=UUID("6f0e9a52-2f4b-5d8e-9a51-3c1f0c7d2b10"), originator_version=2,
        timestamp=recorded, occurred_at=datetime(2026, 11, 22, 8, 15, 3, tzinfo=cst),
        recorded_at=recorded, device_id="scanner-17", operator_id="emp-0042",
        previous_hash="0" * 64, event_hash="", scan_id="0f9b8c1e-scan", scan_type="arrival",
        facility="SZX-HUB-01", facility_kind="hub", next_facility=None, exception_code=None,
        attempt_reason=None, signed_by=None, note="外包装破损",
    )
    assert event.event_hash == EXPECTED


def test_the_pinned_digest_is_sha256_of_the_canonical_text():
    # The documentation above and the pinned value agree (a typo in either shows here).
    assert hashlib.sha256(CANONICAL.encode()).hexdigest() == EXPECTED
