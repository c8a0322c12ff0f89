from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

from parcelflow.domain import chain


def test_the_digest_is_the_same_for_equal_values_after_a_json_round_trip():
    moment = datetime(2026, 11, 22, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    fields = {"a": moment, "b": Decimal("18.00"), "c": (1, 2), "event_hash": "ignored"}
    again = {"a": datetime.fromisoformat(moment.isoformat()), "b": Decimal("18.00"),
             "c": [1, 2], "event_hash": "other"}
    assert chain.digest("t", fields) == chain.digest("t", again)
    assert chain.digest("t", fields) != chain.digest("u", fields)
    assert chain.digest("t", fields) != chain.digest("t", {**fields, "b": Decimal("18.01")})


def test_check_link_names_what_is_wrong():
    pid = uuid4()
    fields = {"previous_hash": chain.GENESIS, "x": 1}
    fields["event_hash"] = chain.digest("m:Parcel.ScanRecorded", fields)
    assert chain.check_link(pid, 1, "m:Parcel.ScanRecorded", fields, chain.GENESIS, 1) is None
    gap = chain.check_link(pid, 3, "m:Parcel.ScanRecorded", fields, chain.GENESIS, 2)
    assert gap and "event 2 is missing" in gap.reason
    altered = chain.check_link(pid, 1, "m:Parcel.ScanRecorded", {**fields, "x": 2},
                               chain.GENESIS, 1)
    assert altered and altered.event_type == "ScanRecorded" and "altered" in altered.reason
    forged = chain.check_link(pid, 1, "m:Parcel.ScanRecorded", fields, "f" * 64, 1)
    assert forged and "previous_hash" in forged.reason
