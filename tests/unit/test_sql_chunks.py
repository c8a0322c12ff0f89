"""IN lists are cut to a size SQLite binds, every value kept once and in order."""

from __future__ import annotations

import sqlite3

from parcelflow.adapters.sql import in_chunks


def test_every_value_lands_in_exactly_one_in_list_sqlite_accepts():
    values = [f"v{i}" for i in range(1201)]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (v TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    found = []
    for marks, chunk in in_chunks(values):
        assert marks.count("?") == len(chunk) <= 500
        found += [row[0] for row in db.execute(
            f"SELECT v FROM t WHERE v IN ({marks}) ORDER BY rowid", chunk)]
    assert found == values
    assert list(in_chunks([])) == []
