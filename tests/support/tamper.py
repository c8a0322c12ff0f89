"""Edit a stored event behind the application's back, as an attacker with SQL access would."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

import psycopg

from parcelflow.adapters.store import is_postgres, sqlite_path


def _edit(state: bytes, old: str, new: str) -> bytes:
    assert old.encode() in state, f"{old!r} not in the stored event"
    return state.replace(old.encode(), new.encode())


def tamper(database_url: str, parcel: UUID, version: int, old: str, new: str) -> None:
    if is_postgres(database_url):
        with psycopg.connect(database_url, autocommit=True) as conn:
            [(state,)] = conn.execute(
                "SELECT state FROM parcelflow_events WHERE originator_id=%s "
                "AND originator_version=%s", (parcel, version)).fetchall()
            conn.execute(
                "UPDATE parcelflow_events SET state=%s WHERE originator_id=%s "
                "AND originator_version=%s", (_edit(bytes(state), old, new), parcel, version))
        return
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        [(state,)] = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=?",
            (parcel.hex, version)).fetchall()
        conn.execute(
            "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
            (_edit(state, old, new), parcel.hex, version))


def delete_event(database_url: str, parcel: UUID, version: int) -> None:
    if is_postgres(database_url):
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM parcelflow_events WHERE originator_id=%s AND "
                         "originator_version=%s", (parcel, version))
        return
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        conn.execute("DELETE FROM stored_events WHERE originator_id=? AND originator_version=?",
                     (parcel.hex, version))


# ---- an attacker who also has the code: edits that keep every link valid -----------------

def _rows(database_url: str, parcel: UUID) -> list[tuple[int, str, bytes]]:
    if is_postgres(database_url):
        with psycopg.connect(database_url, autocommit=True) as conn:
            return [(v, t, bytes(s)) for v, t, s in conn.execute(
                "SELECT originator_version, topic, state FROM parcelflow_events "
                "WHERE originator_id=%s ORDER BY originator_version", (parcel,)).fetchall()]
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        return conn.execute("SELECT originator_version, topic, state FROM stored_events "
                            "WHERE originator_id=? ORDER BY originator_version",
                            (parcel.hex,)).fetchall()


def _write(database_url: str, parcel: UUID, version: int, state: bytes, *,
           topic: str | None = None) -> None:
    if is_postgres(database_url):
        with psycopg.connect(database_url, autocommit=True) as conn:
            if topic is None:
                conn.execute("UPDATE parcelflow_events SET state=%s WHERE originator_id=%s "
                             "AND originator_version=%s", (state, parcel, version))
            else:
                conn.execute("INSERT INTO parcelflow_events (originator_id, originator_version, "
                             "topic, state) VALUES (%s, %s, %s, %s)",
                             (parcel, version, topic, state))
        return
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        if topic is None:
            conn.execute("UPDATE stored_events SET state=? WHERE originator_id=? AND "
                         "originator_version=?", (state, parcel.hex, version))
        else:
            conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, "
                         "state) VALUES (?, ?, ?, ?)", (parcel.hex, version, topic, state))


def _rehashed(mapper: Any, topic: str, state: bytes, **changes: Any) -> Any:
    from eventsourcing.persistence import StoredEvent

    event = mapper.to_domain_event(StoredEvent(UUID(int=0), 0, topic, state))
    fields = {**vars(event), **changes, "event_hash": ""}
    return type(event)(**fields)  # the event recomputes its own hash when it has none


def rewrite(service: Any, database_url: str, parcel: UUID, version: int, *,
            rechain: bool = False, **changes: Any) -> None:
    """Rewrite event `version` with `changes` and a freshly computed hash; with `rechain`,
    recompute every later event's link and hash too, so the whole chain holds."""
    rows = _rows(database_url, parcel)
    previous_hash = None
    for stored_version, topic, state in rows:
        if stored_version < version:
            continue
        if stored_version > version and not rechain:
            break
        edits = changes if stored_version == version else {}
        if previous_hash is not None:
            edits = {**edits, "previous_hash": previous_hash}
        event = _rehashed(service.mapper, topic, state, **edits,
                          originator_id=parcel, originator_version=stored_version)
        _write(database_url, parcel, stored_version, service.mapper.to_stored_event(event).state)
        previous_hash = event.event_hash


def append_forged(service: Any, database_url: str, parcel: UUID, **changes: Any) -> int:
    """Append a copy of the parcel's newest event with `changes`, linked to it and hashed
    correctly (a forged delivery, say); its version."""
    version, topic, state = _rows(database_url, parcel)[-1]
    from eventsourcing.persistence import StoredEvent

    head = service.mapper.to_domain_event(StoredEvent(parcel, version, topic, state))
    event = _rehashed(service.mapper, topic, state, originator_id=parcel,
                      originator_version=version + 1, previous_hash=head.event_hash, **changes)
    stored = service.mapper.to_stored_event(event)
    _write(database_url, parcel, version + 1, stored.state, topic=stored.topic)
    return version + 1


def delete_parcel(database_url: str, parcel: UUID) -> None:
    if is_postgres(database_url):
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM parcelflow_events WHERE originator_id=%s", (parcel,))
        return
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        conn.execute("DELETE FROM stored_events WHERE originator_id=?", (parcel.hex,))
