"""`parcelflow keys` as an operator runs it: staff tokens expire, any key rotates."""

from __future__ import annotations

import json

from tests.e2e.test_cli_hostile_input import run


def test_keys_expire_and_rotate(tmp_path, postgres_url):
    done = run(["keys", "create", "staff", "--name", "emp-1", "--role", "cs_agent", "--json"],
               postgres_url, tmp_path)
    staff = json.loads(done.stdout)
    assert round((staff["expires_at"] - staff["created_at"]) / 3600, 3) == 12
    done = run(["keys", "create", "staff", "--name", "emp-2", "--role", "auditor",
                "--lifetime", "PT30M", "--json"], postgres_url, tmp_path)
    short = json.loads(done.stdout)
    assert round((short["expires_at"] - short["created_at"]) / 60, 3) == 30
    done = run(["keys", "create", "scanner", "--name", "scanner-1", "--facility", "SZX-OUT-07",
                "--json"], postgres_url, tmp_path)
    scanner = json.loads(done.stdout)
    assert scanner["expires_at"] is None
    done = run(["keys", "rotate", scanner["key_id"], "--grace", "PT1H", "--json"], postgres_url,
               tmp_path)
    assert done.returncode == 0, done.stderr
    rotated = json.loads(done.stdout)
    assert rotated["key_id"] != scanner["key_id"] and rotated["facility"] == "SZX-OUT-07"
    assert rotated["token"] and rotated["signing_secret"]
    listed = {k["key_id"]: k for k in json.loads(run(["keys", "list", "--json"], postgres_url,
                                                     tmp_path).stdout)}
    old_expiry = listed[scanner["key_id"]]["expires_at"]
    assert abs(old_expiry - rotated["created_at"] - 3600) < 5  # valid for the grace hour
    done = run(["keys", "rotate", staff["key_id"]], postgres_url, tmp_path)
    assert done.returncode == 0 and "refused from now on" in done.stdout
    active = json.loads(run(["keys", "list", "--active", "--json"], postgres_url,
                            tmp_path).stdout)
    assert staff["key_id"] not in {k["key_id"] for k in active}
    assert run(["keys", "rotate", "nope"], postgres_url, tmp_path).returncode == 1
