"""The notification ids a COPY insert answers with are those of the rows it wrote, in
order: computed when the sequence gave consecutive ids, read back when it did not."""

from __future__ import annotations

import psycopg

from parcelflow.domain.ids import parcel_id
from tests.support.builders import as_scans, manifest, scan, tracking


def _ids_of(url: str, table: str, versions: list) -> list[int]:
    with psycopg.connect(url) as conn:
        return [conn.execute(f"SELECT notification_id FROM {table} WHERE originator_id = %s "
                             "AND originator_version = %s", v).fetchone()[0] for v in versions]


def _insert_scans(svc, first: int, count: int) -> tuple[list[int], list]:
    parcels = svc.load_many([parcel_id(tracking(n)) for n in range(first, first + count)],
                            use_cache=False)
    events = []
    for n in range(first, first + count):
        parcel = parcels[parcel_id(tracking(n))]
        parcel.record_scans(as_scans(scan("pickup", "SZX-OUT-07", 1, n)),
                            recorded_at=svc.clock())
        events += parcel.collect_events()
    stored = [svc.mapper.to_stored_event(e) for e in events]
    assert len(stored) >= svc.recorder.COPY_FROM  # the COPY path
    ids = svc.recorder.insert_events(stored)
    return list(ids), [(s.originator_id, s.originator_version) for s in stored]


def test_consecutive_ids_are_answered_without_reading_them_back(make_service, postgres_url):
    svc = make_service(postgres_url)
    svc.register([manifest(n) for n in range(1, 101)])
    ids, keys = _insert_scans(svc, 1, 100)
    assert ids == _ids_of(postgres_url, svc.recorder.events_table_name, keys)
    assert ids == list(range(ids[0], ids[0] + 100))


def test_ids_with_gaps_between_them_are_read_back(make_service, postgres_url):
    svc = make_service(postgres_url)
    svc.register([manifest(n) for n in range(1, 101)])
    table = svc.recorder.events_table_name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'notification_id')",
                                [table]).fetchone()[0]
        conn.execute(f"ALTER SEQUENCE {sequence} INCREMENT BY 3")
    ids, keys = _insert_scans(svc, 1, 100)
    assert ids == _ids_of(postgres_url, table, keys)
    assert ids[1] - ids[0] == 3
