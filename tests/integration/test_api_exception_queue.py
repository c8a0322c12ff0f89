"""The exception queue over HTTP, by the words staff use: the `team` that must act and the
`assignee` who has it (issue 16: one "owner" meant both, and `?owner=claims_team` was a
422 because the filter only knew the rules' own teams)."""

from __future__ import annotations

from parcelflow.adapters.credentials import Kind, Role
from tests.support.api import Api, is_problem
from tests.support.builders import journey, manifest, tracking


def _parcel(api: Api, n: int, scans: int = 3) -> str:
    api.client.post("/v1/parcels", json=manifest(n), headers=api.auth("orders"))
    for item in journey(n)[:scans]:
        r = api.client.post("/v1/scans", json=[item], headers=api.auth(item["facility"]))
        assert r.json()["accepted"] == 1, r.text
    return tracking(n)


def _staff(api: Api, name: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.key(name, Kind.STAFF, role=role).token}"}


def _queue(api: Api, headers: dict[str, str], **params: str) -> list[dict]:
    api.catch_up("exceptions")
    r = api.client.get("/v1/exceptions", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["exceptions"]


def test_a_queue_filtered_by_the_team_it_was_handed_to_and_by_its_assignee(api):
    no = _parcel(api, 1)
    anna, li = _staff(api, "anna", Role.CS_AGENT), _staff(api, "li", Role.CS_AGENT)
    exc = api.client.post("/v1/exceptions", json={"tracking_no": no, "code": "damaged"},
                          headers=anna).json()["exception_id"]
    api.client.post(f"/v1/exceptions/{exc}/acknowledge", json={"tracking_no": no}, headers=anna)
    [row] = _queue(api, anna, team="hub")  # damage: the hub's to act on, by its rule
    assert (row["exception_id"], row["team"], row["assignee"]) == (exc, "hub", "staff:anna")

    r = api.client.post(f"/v1/exceptions/{exc}/hand-over", headers=anna,
                        json={"tracking_no": no, "to_team": "claims_team"})
    assert r.status_code == 200, r.text
    [row] = _queue(api, anna, team="claims_team")
    assert (row["exception_id"], row["team"], row["assignee"]) == (exc, "claims_team", None)
    assert _queue(api, anna, team="hub") == []

    api.client.post(f"/v1/exceptions/{exc}/acknowledge", json={"tracking_no": no}, headers=li)
    [row] = _queue(api, anna, team="claims_team", assignee="staff:li")
    assert (row["team"], row["assignee"]) == ("claims_team", "staff:li")
    assert _queue(api, anna, assignee="staff:anna") == []
    assert "owner" not in row


def test_the_old_owner_filter_is_refused_by_name_not_ignored(api):
    _parcel(api, 2)
    agent = api.auth("cs_agent")
    problem = is_problem(api.client.get("/v1/exceptions", params={"owner": "claims_team"},
                                        headers=agent), 422)
    [error] = problem["errors"]
    assert error["field"] == "query.owner"
    assert "team" in error["reason"] and "assignee" in error["reason"]
    assert "claims_team" not in str(problem)
    bad = is_problem(api.client.get("/v1/exceptions", params={"team": "Claims Team"},
                                    headers=agent), 422)
    assert bad["errors"][0]["field"] == "query.team"


def test_the_openapi_document_names_team_and_assignee(api):
    doc = api.client.get("/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/v1/exceptions"]["get"]["parameters"]}
    assert {"team", "assignee"} <= set(params) and "owner" not in params
    row = doc["components"]["schemas"]["QueueRow"]["properties"]
    assert {"team", "assignee"} <= set(row) and "owner" not in row
    escalate = doc["components"]["schemas"]["Escalate"]["properties"]
    assert "assignee" in escalate and "new_owner" not in escalate


def test_an_agent_cannot_take_someone_elses_exception_by_escalating_it_to_themself(api):
    """Found over HTTP: a cs_agent who was not the assignee escalated with `new_owner` set
    to themself, then resolved it. Passing an exception to a new assignee is a
    supervisor's act, or its current assignee's."""
    no = _parcel(api, 3)
    anna, bob = _staff(api, "anna", Role.CS_AGENT), _staff(api, "bob", Role.CS_AGENT)
    supervisor = _staff(api, "sue", Role.SUPERVISOR)
    exc = api.client.post("/v1/exceptions", json={"tracking_no": no, "code": "damaged"},
                          headers=anna).json()["exception_id"]
    api.client.post(f"/v1/exceptions/{exc}/acknowledge", json={"tracking_no": no}, headers=anna)
    escalate, resolve = f"/v1/exceptions/{exc}/escalate", f"/v1/exceptions/{exc}/resolve"
    taken = {"tracking_no": no, "reason": "I'll do it", "assignee": "bob"}
    problem = is_problem(api.client.post(escalate, json=taken, headers=bob), 403)
    assert "supervisor" in problem["detail"]
    is_problem(api.client.post(resolve, json={"tracking_no": no, "outcome": "no_fault"},
                               headers=bob), 409)
    [row] = _queue(api, anna)
    assert (row["assignee"], row["escalation_level"]) == ("staff:anna", 0)  # nothing recorded

    # An agent may still escalate (bring in the supervisors) without taking it.
    assert api.client.post(escalate, json={"tracking_no": no, "reason": "customer upset"},
                           headers=bob).status_code == 200
    # The assignee may pass it up to someone; a supervisor may take it over.
    assert api.client.post(escalate, headers=anna, json={
        "tracking_no": no, "reason": "needs a refund", "assignee": "sue"}).status_code == 200
    assert api.client.post(escalate, headers=supervisor, json={
        "tracking_no": no, "reason": "sue is away", "assignee": "bob"}).status_code == 200
    [row] = _queue(api, anna)
    assert (row["assignee"], row["escalation_level"]) == ("staff:bob", 3)
    assert api.client.post(resolve, json={"tracking_no": no, "outcome": "no_fault"},
                           headers=bob).status_code == 200
