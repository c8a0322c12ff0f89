"""Instructions counted under callgrind: what the `--instructions` benchmarks share
(`bench/ingest.py --instructions`, `bench/notify_instructions.py`, `bench/projections.py
--parts instructions`).

The benchmark starts a child process of itself under `valgrind --tool=callgrind
--instr-atstart=no`, so nothing is counted while it sets up. The child wraps exactly the
work to count in `counting()`, which switches callgrind's counting on and off through
its own control (`callgrind_control -i on/off <pid>`, and waits for each). `run` returns
what callgrind "Collected" in between: the child's own instructions, every thread of it
(PostgreSQL's are not counted), with PYTHONHASHSEED=0 so that a run repeats.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def require() -> None:
    if not shutil.which("valgrind"):
        raise SystemExit("counting instructions needs valgrind (apt-get install valgrind)")


@contextmanager
def counting() -> Iterator[None]:
    """In the child: count exactly the block."""
    control = shutil.which("callgrind_control") or "callgrind_control"
    subprocess.run([control, "-i", "on", str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL)
    yield
    subprocess.run([control, "-i", "off", str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL)


def run(script: str, args: list[str], *, keep: str | None = None
        ) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run `script args` in this interpreter under callgrind: (instructions collected,
    the finished process, for what the child printed). `keep`: copy callgrind's output
    there (for callgrind_annotate). Exits with the child's errors if it fails."""
    out = Path(tempfile.mkdtemp(prefix="bench-callgrind-")) / "callgrind.out"
    env = {**os.environ, "PYTHONHASHSEED": "0", "VIRTUAL_ENV": sys.prefix,
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        # The interpreter itself (the venv's link to it), never a wrapper script:
        # valgrind does not follow an exec.
        done = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                               f"--callgrind-out-file={out}", sys.executable, script, *args],
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        found = re.search(r"Collected : (\d+)", done.stderr)
        assert found, done.stderr[-2000:]
        if keep and out.exists():
            shutil.copyfile(out, keep)
        return int(found.group(1)), done
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
