"""What the `parcelflow` command prints is the data as it is: a scan, a name or a tracking
number that looks like Rich markup (`[/bold]`, `[bold red]`) or an emoji code (`:smile:`)
is printed to the letter, never interpreted (a closing tag crashed `ingest` with a
MarkupError; an opening one silently changed what was printed)."""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.test_cli import PARCELFLOW, run, write_lines
from tests.support.builders import journey, manifest, recent_start, tracking

MARKUP = "[bold red]cs-1:smile:"


def test_markup_in_a_scan_file_is_printed_as_it_is(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    scan = journey(1, t0=recent_start())[0]
    lines = ['{"[/bold]": 1}', json.dumps({**scan, "[bold red]colour": "red"})]
    done = run(["ingest", "-"], db, tmp_path, stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "0 scans accepted, 0 duplicates, 2 rejected" in done.stdout
    printed = " ".join(done.stdout.split())  # the reasons wrap at the console's width
    # Names that do not look like field names are not repeated (a reason never echoes
    # what was sent); each line still says what is wrong with it.
    assert printed.count("unknown field (not part of the wire format v1; names not shown)") == 2
    assert "[/bold]" not in printed and "colour" not in printed


def test_markup_in_names_and_refusals_is_printed_as_it_is(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    assert run(["register", str(write_lines(tmp_path / "m.jsonl", [manifest(1)]))],
               db, tmp_path).returncode == 0
    assert run(["exceptions", "raise", tracking(1), "damaged", "--by", MARKUP],
               db, tmp_path).returncode == 0
    taken = run(["exceptions", "acknowledge", tracking(1), "damaged", "--by", MARKUP],
                db, tmp_path)
    assert taken.returncode == 0, taken.stderr
    assert f"assignee {MARKUP}, due" in taken.stdout

    wide = {**os.environ, "PARCELFLOW_DATABASE_URL": db, "COLUMNS": "300"}
    queue = subprocess.run([*PARCELFLOW, "exceptions"], cwd=tmp_path, env=wide,
                           capture_output=True, text=True, timeout=120)
    assert queue.returncode == 0, queue.stderr
    assert f"│ {MARKUP} │" in queue.stdout  # a table cell, to the letter

    malformed = run(["history", "[/bold]PF1"], db, tmp_path)  # refused by its format
    assert malformed.returncode == 2 and "Traceback" not in malformed.stderr
    assert "not in an accepted tracking-number format" in malformed.stderr
