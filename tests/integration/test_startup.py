"""Workers start together: creating the schema from several processes at once is safe."""

from __future__ import annotations

import subprocess
import sys

START = """
import sys
from parcelflow.adapters.positions import PositionStore
from parcelflow.bootstrap import build_service
from parcelflow.consumers.notifications.ledger import NotificationLedger
from parcelflow.projections.registry import PROJECTIONS, open_view
from parcelflow.settings import Settings
service = build_service(Settings(database_url=sys.argv[1], _env_file=None))
for name in PROJECTIONS:
    open_view(service, name)
PositionStore(service.factory.datastore)
NotificationLedger(service.factory.datastore)
print("started")
"""


def test_processes_starting_together_on_a_fresh_database_all_start(postgres_url):
    procs = [subprocess.Popen([sys.executable, "-c", START, postgres_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    done = [(p, *p.communicate(timeout=120)) for p in procs]
    # Each one got to its end: exit status 0 *and* its last line (a process killed by a
    # signal, or one that exits early, can leave stderr empty).
    assert [(p.returncode, out) for p, out, _ in done] == [(0, "started\n")] * 6, \
        "\n".join(err for _, _, err in done)
