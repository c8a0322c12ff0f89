"""Edit a stored event behind the application's back, as an attacker with SQL access would."""

from __future__ import annotations

import sqlite3
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
