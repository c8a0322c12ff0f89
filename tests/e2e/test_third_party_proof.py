"""A third party checks a parcel's inclusion proof with the checkpoint and the carrier's
public key alone: the README's verification code, run as it is printed there.

This module imports nothing of parcelflow: the carrier's side runs as the `parcelflow`
command, and the check is the README's code block.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_check():
    block = re.search(r"<!-- proof-check -->\n```python\n(.*?)```\n<!-- /proof-check -->",
                      README.read_text(encoding="utf-8"), re.S)
    assert block, "the README's proof-check block is missing"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md#proof-check", "exec"), namespace)
    return namespace["check_inclusion"]


def parcelflow(args, env, cwd):
    done = subprocess.run([sys.executable, "-m", "parcelflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def carrier(tmp_path_factory):
    """A carrier's store with a signed checkpoint; its public key; a parcel's proof."""
    cwd = tmp_path_factory.mktemp("carrier")
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": f"sqlite:///{cwd}/p.db",
           "PARCELFLOW_LOG_FORMAT": "json"}
    keys = json.loads(parcelflow(["keys", "checkpoint-create", "--name",
                                  "carrier.example/checkpoints", "--json"], env, cwd))
    env["PARCELFLOW_CHECKPOINT_KEY"] = keys["private_key"]
    parcelflow(["simulate", "--parcels", "37", "--out", "sim"], env, cwd)
    parcelflow(["register", "sim/manifests.jsonl"], env, cwd)
    parcelflow(["ingest", "sim/scans.jsonl"], env, cwd)
    parcelflow(["checkpoint"], env, cwd)
    number = json.loads((cwd / "sim" / "manifests.jsonl").read_text().splitlines()[5])[
        "tracking_no"]
    proof = json.loads(parcelflow(["verify", number, "--proof"], env, cwd))
    history = json.loads(parcelflow(["history", number, "--json"], env, cwd))
    return keys["public_key"], number, proof, history


def test_the_readme_check_accepts_the_carriers_proof_and_names_the_head(carrier):
    public_key, number, proof, history = carrier
    leaf = readme_check()(proof, public_key)
    head = history["events"][-1]
    assert leaf.split(" ") == [number, str(head["version"]), head["event_hash"],
                               head["previous_hash"]]


def test_the_readme_check_refuses_a_proof_that_was_altered(carrier):
    public_key, _, proof, _ = carrier
    check = readme_check()
    number, version, event_hash, previous = proof["leaf"].split(" ")
    for altered in (
        {**proof, "leaf": f"{number} {int(version) + 1} {event_hash} {previous}"},
        {**proof, "leaf_index": proof["leaf_index"] + 1},
        {**proof, "proof": proof["proof"][:-1]},
        {**proof, "proof": list(reversed(proof["proof"]))},
        {**proof, "checkpoint": proof["checkpoint"].replace("\n37\n", "\n36\n", 1)},
    ):
        with pytest.raises((ValueError, InvalidSignature)):
            check(altered, public_key)


def test_the_readme_check_refuses_another_carriers_key(carrier, tmp_path):
    _, _, proof, _ = carrier
    env = {**os.environ, "PARCELFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/other.db"}
    other = json.loads(parcelflow(["keys", "checkpoint-create", "--name",
                                   "carrier.example/checkpoints", "--json"], env, tmp_path))
    with pytest.raises(ValueError, match="no signature of this key"):
        readme_check()(proof, other["public_key"])
