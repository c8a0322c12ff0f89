"""Corrections people make, on SQLite and PostgreSQL: a void and an amend, and what
follows from them (status, flags, exceptions, the read models, notifications); and the
same over the API."""

from __future__ import annotations

import threading

import pytest

from parcelflow.application.audit import history_report
from parcelflow.application.corrections import CorrectionRefused, Corrections
from parcelflow.application.service import utcnow
from parcelflow.domain.errors import DomainError, NotFound
from parcelflow.settings import Settings, WebhookEndpoint
from tests.support.api import is_problem
from tests.support.builders import journey, manifest, on_time, recent_start, tracking
from tests.support.mail import MailSink, subject
from tests.support.webhook_peer import WebhookPeer


def misrouted(n: int = 1, t0=None) -> list[dict]:
    """SZX hub sorts the parcel for SHA-HUB-02; the arrival is scanned at HGH-HUB-03."""
    scans = journey(n, **({"t0": t0} if t0 else {}))[:6]
    scans[5] = {**scans[5], "facility": "HGH-HUB-03"}
    return scans


def test_an_amended_arrival_closes_the_misdirection_it_raised(service, runners):
    service.register([manifest(1)])
    scans = misrouted()
    service.ingest(scans)
    parcel = service.get(tracking(1))
    assert "misdirected" in parcel.state.flags
    assert [r.code for r in parcel.open_exceptions] == ["misdirected"]

    done = Corrections(service).amend(tracking(1), scans[5]["scan_id"], by="auditor-7",
                                      reason="scanned at the wrong dock", facility="SHA-HUB-02")
    assert (done.target_version, done.action) == (7, "amend")
    parcel = service.get(tracking(1))
    assert parcel.state.flags == frozenset() and parcel.open_exceptions == []
    assert parcel.state.location == "SHA-HUB-02"
    [misdirection] = parcel.exceptions.values()
    assert misdirection.outcome == "cleared" and misdirection.resolved_by == "system"

    _, items = history_report(service, tracking(1))
    amended = [i for i in items if i.event_type == "scan_amended"]
    assert [(a.version, a.operator_id, a.details["target_version"], a.details["reason"])
            for a in amended] == [(done.version, "auditor-7", 7, "scanned at the wrong dock")]
    assert [i.details["facility"] for i in items if i.version == 7] == ["HGH-HUB-03"]  # kept

    for runner in runners.values():
        runner.run()
    row = runners["tracking"].projection.view.get(tracking(1))
    assert row["facility"] == "SHA-HUB-02" and row["flags"] == []
    assert runners["exceptions"].projection.view.open() == []


def test_a_voided_delivery_puts_the_parcel_back_out_for_delivery(service, clock):
    service.register([manifest(1)])
    scans = journey(1)
    service.ingest(scans)
    assert service.get(tracking(1)).state.status == "delivered"
    Corrections(service).void(tracking(1), scans[-1]["scan_id"], by="supervisor-2",
                              reason="the courier pressed delivered at the wrong door")
    parcel = service.get(tracking(1))
    assert parcel.state.status == "out_for_delivery" and parcel.state.delivered is None
    timeline = {e.version: e for e in parcel.state.timeline}
    assert timeline[12].voided
    with pytest.raises(DomainError, match="already voided"):
        Corrections(service).void(tracking(1), scans[-1]["scan_id"], by="supervisor-2",
                                  reason="again")


def test_corrections_asked_wrongly_are_refused_with_the_reason(service):
    service.register([manifest(1)])
    scans = journey(1)[:3]
    service.ingest(scans)
    corrections = Corrections(service)
    with pytest.raises(NotFound, match="has no scan nope"):
        corrections.void(tracking(1), "nope", by="a", reason="r")
    for kwargs, message in (({"reason": " "}, "reason"), ({"by": ""}, "by"),
                            ({"facility": "MARS-01"}, "facility: not a facility"),
                            ({}, "at least one")):
        with pytest.raises(CorrectionRefused, match=message):
            corrections.amend(tracking(1), scans[1]["scan_id"],
                              **{"by": "a", "reason": "r", **kwargs})


def test_notifications_follow_the_corrected_timeline(make_service, database_url):
    svc = make_service(database_url, clock=utcnow)
    svc.register([on_time(1)])
    scans = journey(1, t0=recent_start())
    svc.ingest(scans)
    mail, merchant = MailSink().start(), WebhookPeer().start()
    try:
        from parcelflow.consumers.notifications.worker import build_notify_worker

        settings = Settings(_env_file=None, database_url=database_url, smtp_url=mail.url,
                            merchant_webhooks={"shop-123": WebhookEndpoint(
                                url=merchant.url, secret=merchant.secret)})
        worker = build_notify_worker(make_service(database_url, clock=utcnow), settings)
        worker.run(threading.Event(), follow=False)
        told = len(mail.messages)
        hooks = len(merchant.requests)
        Corrections(svc).void(tracking(1), scans[-1]["scan_id"], by="supervisor-2",
                              reason="not delivered")
        worker.run(threading.Event(), follow=False)
        worker.close()
        new_mail = [subject(m) for m in mail.messages[told:]]
        assert new_mail == [f"您的包裹 {tracking(1)} 正在派送"]  # out for delivery again
        merchant.wait_for(hooks + 1)
        import json

        latest = json.loads(merchant.requests[-1].body)
        assert latest["data"]["status"] == "out_for_delivery"
    finally:
        mail.stop()
        merchant.stop()


def test_the_api_takes_corrections_from_auditors_and_supervisors(api):
    api.service.register([manifest(1)])
    scans = misrouted()
    api.service.ingest(scans)
    url = f"/v1/parcels/{tracking(1)}/corrections"
    amend = {"action": "amend", "scan_id": scans[5]["scan_id"], "reason": "wrong dock",
             "facility": "SHA-HUB-02"}
    done = api.client.post(url, json=amend, headers=api.auth("auditor"))
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["action"], body["target_version"]) == ("amend", 7)
    assert int(done.headers["X-Parcelflow-Position"]) == body["position"]
    voided = api.client.post(url, json={"action": "void", "scan_id": scans[4]["scan_id"],
                                        "reason": "duplicate departure"},
                             headers=api.auth("supervisor"))
    assert voided.status_code == 201, voided.text
    api.catch_up()
    history = api.client.get(f"/v1/parcels/{tracking(1)}/history",
                             headers=api.auth("auditor")).json()
    kinds = [(e["type"], e["operator_id"]) for e in history["events"][-4:]]
    assert ("scan_amended", "staff:emp-auditor") in kinds
    assert ("event_voided", "staff:emp-supervisor") in kinds
    assert history["flags"] == [] and history["location"] == "SHA-HUB-02"

    is_problem(api.client.post(url, json=amend, headers=api.auth("cs_agent")), 403)
    again = api.client.post(url, json={"action": "void", "scan_id": scans[5]["scan_id"],
                                       "reason": "not there at all"},
                            headers=api.auth("auditor"))
    assert again.status_code == 201  # voiding the amended scan is allowed once
    twice = api.client.post(url, json={"action": "void", "scan_id": scans[5]["scan_id"],
                                       "reason": "again"}, headers=api.auth("auditor"))
    null = api.client.post(url, json={**amend, "facility": None}, headers=api.auth("auditor"))
    assert is_problem(null, 422)["errors"][0]["field"].startswith("body")
    assert "already voided" in is_problem(twice, 409)["detail"]
    bad = is_problem(api.client.post(url, json={"action": "void", "scan_id": "x",
                                                "reason": "r", "facility": "SHA-HUB-02"},
                                     headers=api.auth("auditor")), 422)
    assert "SHA-HUB-02" not in str(bad)
    is_problem(api.client.post(url, json={"action": "amend", "scan_id": "nope",
                                          "reason": "r", "facility": "SHA-HUB-02"},
                               headers=api.auth("auditor")), 404)
    unknown = api.client.post(url, json={**amend, "facility": "MARS-01"},
                              headers=api.auth("auditor"))
    assert "facility" in is_problem(unknown, 422)["detail"]


def test_an_amended_time_moves_the_scan_in_the_story(service, clock):
    from datetime import timedelta

    from tests.support.builders import T0

    service.register([manifest(1)])
    scans = journey(1)[:6]
    service.ingest(scans)
    # Say the SHA hub's arrival was really at T0+1.5 h: it moves before the SZX hub's
    # scans (T0+2 h to 3 h), which now end the story.
    done = Corrections(service).amend(tracking(1), scans[5]["scan_id"], by="a", reason="clock",
                                      occurred_at=T0 + timedelta(hours=1.5))
    parcel = service.get(tracking(1))
    order = [e.scan.scan_id for e in parcel.state.timeline if e.scan]
    assert order.index(scans[5]["scan_id"]) == 2 and done.target_version == 7
    assert parcel.state.location == "SZX-HUB-01"  # the hub's later scans tell the end now
    with pytest.raises(CorrectionRefused, match="occurred_at: in the future"):
        Corrections(service).amend(tracking(1), scans[4]["scan_id"], by="a", reason="r",
                                   occurred_at=clock.now + timedelta(hours=1))
