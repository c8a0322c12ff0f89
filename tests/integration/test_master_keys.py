"""Rotating the master key that wraps every parcel's data key, beside running processes,
on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import os

import pytest

from parcelflow.application.audit import history
from parcelflow.application.erasure import Erasure
from parcelflow.application.personal_data import SealError
from parcelflow.bootstrap import build_service
from parcelflow.settings import Settings
from tests.support.builders import manifest, tracking

OLD, NEW = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))


def receiver_phone(svc, n: int) -> str:
    return history(svc, tracking(n), reveal=True)[0].details["manifest"]["receiver"]["phone"]


def test_rotate_master_rewraps_every_key_while_processes_keep_reading(database_url, clock):
    made = []

    def service(**keys):
        svc = build_service(Settings(_env_file=None, database_url=database_url, **keys),
                            clock=clock, cache_size=0)
        made.append(svc)
        return svc

    try:
        before = service(pii_master_key=OLD)
        before.register([manifest(1), manifest(2), manifest(4)])
        Erasure(before).erase(tracking(4), by="dpo")
        # Every process is given the new key, and the old one as previous: they read both.
        during = service(pii_master_key=NEW, pii_master_key_previous=OLD)
        assert receiver_phone(during, 1) == "13987654321"
        during.register([manifest(3)])  # a new parcel's key: wrapped under the new one
        assert receiver_phone(before, 1) == "13987654321"  # an old process still reads too

        steps = list(during.personal.keys.rewrap(batch=2))
        done = steps[-1]
        assert (done.rewrapped, done.current, done.unreadable) == (2, 1, 0)  # 4 is erased
        assert list(during.personal.keys.rewrap())[-1].rewrapped == 0  # nothing left to do

        after = service(pii_master_key=NEW)  # PREVIOUS removed
        assert [receiver_phone(after, n) for n in (1, 2, 3)] == ["13987654321"] * 3
        assert receiver_phone(after, 4) == "[erased]"
        with pytest.raises(SealError, match="does not unwrap"):  # the old key alone: no more
            receiver_phone(service(pii_master_key=OLD), 1)
    finally:
        for svc in made:
            svc.close()
