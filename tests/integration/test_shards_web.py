"""The web pages and the API's gauges on a sharded store (two real PostgreSQL servers):
a parcel on the second shard is found, its page renders, and a console action lands on
its own shard."""

from __future__ import annotations

import json

import psycopg

from tests.integration.test_shards import PARCELS, make_network  # noqa: F401 — the fixture
from tests.support.builders import manifest, tracking


def test_the_tracking_page_and_the_console_work_for_a_parcel_on_the_second_shard(
        two_shards, make_network):
    from tests.integration.test_console import sign_in
    from tests.support.api import make_api
    from tests.support.builders import scan

    network = make_network(two_shards)
    n = next(n for n in PARCELS if network.router.index_of(tracking(n)) == 1)
    no = tracking(n)
    for api in make_api(network, two_shards[0], shards=json.dumps(two_shards)):
        assert api.client.post("/v1/parcels", json=manifest(n),
                               headers=api.auth("orders")).status_code == 200
        pickup = scan("pickup", "SZX-OUT-07", 0, n)
        assert api.client.post("/v1/scans", json=[pickup], headers=api.auth("SZX-OUT-07")
                               ).json()["accepted"] == 1
        api.catch_up()
        page = api.client.get(f"/track/{no}", headers={"Accept-Language": "en"})
        assert page.status_code == 200 and no in page.text and "Picked up" in page.text
        r = api.client.post("/v1/exceptions", json={"tracking_no": no, "code": "damaged"},
                            headers=api.auth("cs_agent"))
        assert r.status_code == 201, r.text
        exc = r.json()["exception_id"]
        api.catch_up("exceptions")

        csrf = sign_in(api, "cs_agent")
        assert f"/console/exceptions/{no}/{exc}" in api.client.get("/console/queue").text
        base = f"/console/exceptions/{no}/{exc}"
        assert ">Acknowledge</button>" in api.client.get(base).text
        assert api.client.post(f"{base}/acknowledge", data={"csrf_token": csrf}
                               ).status_code == 200
        sign_in(api, "auditor")
        audit = api.client.get("/console/audit", params={"tracking_no": no}).text
        assert "<strong>Intact</strong>: all 4 events" in audit  # its chain, on its shard
        assert "exception acknowledged" in audit
        assert api.client.get("/console/stats").status_code == 200
    home, other = network.shards
    acknowledged = other.get(no).exceptions[exc]
    assert acknowledged.acknowledged_by == "staff:emp-cs_agent"
    table = home.recorder.events_table_name
    with psycopg.connect(two_shards[0]) as conn:  # nothing of it on the first shard
        [(count,)] = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE originator_id = %s",
                                  [other.get(no).id]).fetchall()
    assert count == 0


def test_the_api_metrics_count_the_relay_lag_over_every_shard(two_shards, make_network):
    from tests.support.api import make_api

    network = make_network(two_shards)
    network.register([manifest(n) for n in PARCELS[:12]])
    # With Kafka configured the API reads each shard relay's saved position (none yet).
    for api in make_api(network, two_shards[0], shards=json.dumps(two_shards),
                        kafka_bootstrap_servers="127.0.0.1:9"):
        text = api.client.get("/metrics").text
        assert "parcelflow_relay_lag_events 12.0" in text, text  # 12 parcels, both shards
        assert "metrics.gauges_failed" not in api.logs.getvalue()
