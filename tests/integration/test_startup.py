"""Workers start together: creating the schema from several processes at once is safe."""

from __future__ import annotations

import subprocess
import sys

START = """
import sys
from parcelflow.bootstrap import build_service
from parcelflow.projections.registry import open_view
from parcelflow.settings import Settings
service = build_service(Settings(database_url=sys.argv[1], _env_file=None))
for name in ("tracking", "exceptions", "stats"):
    open_view(service, name)
"""


def test_processes_starting_together_on_a_fresh_database_all_start(postgres_url):
    procs = [subprocess.Popen([sys.executable, "-c", START, postgres_url],
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    failures = [err for p in procs if (err := p.communicate(timeout=120)[1]) and p.returncode]
    assert failures == []
