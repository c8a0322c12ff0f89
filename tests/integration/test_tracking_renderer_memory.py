"""What the tracking view's renderer remembers for the parcels its replica holds: a
follower does not decrypt a parcel's receiver and sender again at every scan."""

from __future__ import annotations

from parcelflow.projections.registry import runner

from parcelflow.application.personal_data import Opener
from tests.support.builders import journey, manifest


def test_a_follower_opens_each_parcels_parties_once_while_its_replica_holds_the_parcel(
        service, monkeypatch):
    parcels = range(1, 21)
    follower = runner(service, "tracking", replica_size=len(parcels))  # holds all of them
    opened: list[object] = []
    real_open = Opener.open

    def counted(self, parcel_id, sealed, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(parcel_id)
        return real_open(self, parcel_id, sealed, **kwargs)

    monkeypatch.setattr(Opener, "open", counted)
    try:
        service.register([manifest(n) for n in parcels])
        follower.run()
        assert len(opened) == 2 * len(parcels)  # each receiver and sender, once

        service.ingest([journey(n)[0] for n in parcels])  # every parcel picked up
        follower.run()
        assert len(opened) == 2 * len(parcels)  # nothing opened again
        rows = follower.projection.view.all()
        assert all(r["receiver"] and r["sender"] and r["status"] == "picked_up" for r in rows)
    finally:
        follower.close()


# Run in a process of its own, so that its heap has no holes left by other tests to
# fill: what the renderer keeps is what its resident memory grows by.
_KEPT = r"""
import gc, sys
from parcelflow.bootstrap import build_service
from parcelflow.domain.parcel import Parcel
from parcelflow.projections.tracking_view import Renderer
from parcelflow.settings import Settings
from tests.support.builders import tracking

def rss():
    gc.collect()
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmRSS:"))

url, count = sys.argv[1], int(sys.argv[2])
service = build_service(Settings(database_url=url, _env_file=None))
ids = [Parcel.create_id(tracking(n)) for n in range(1, count + 1)]
parcels = list(service.load_many(ids).values())
for parcel in parcels:  # what the parcel itself keeps, made before the measurement
    state = parcel.state
    state.physical, state.unknown_facility_scans
renderer = Renderer(service, size=count)
renderer.rows(parcels[:20])  # the code paths and caches of any parcel, warmed
before = rss()
rows = renderer.rows(parcels[20:])
del rows
print((rss() - before) / (count - 20))
service.close()
"""


def test_a_follower_keeps_a_parcels_written_timeline_in_a_few_kib(make_service, tmp_path):
    """The renderer keeps each parcel's timeline lines written, parties masked and first
    prediction: a few KiB a parcel (a 12-line timeline is ~2.4 KB of text). Lines kept as
    orjson returned them held ~4 KiB each in the process (~50 KiB a parcel): a follower's
    resident memory tripled (bench/memory.py). What it keeps does not depend on the
    store, so this runs on the embedded one only."""
    import subprocess
    import sys

    database_url = f"sqlite:///{tmp_path}/parcelflow.db"
    service = make_service(database_url)
    count = 1000
    service.register([manifest(n) for n in range(1, count + 1)])
    scans = [scan for n in range(1, count + 1) for scan in journey(n)]
    for start in range(0, len(scans), 1000):
        service.ingest(scans[start:start + 1000])
    done = subprocess.run([sys.executable, "-c", _KEPT, database_url, str(count)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    per_parcel = float(done.stdout.strip().splitlines()[-1])
    assert per_parcel < 16 * 1024, f"{per_parcel / 1024:.1f} KiB a parcel"
