"""Erasure leaves nothing: after `erase`, a dump of the whole PostgreSQL database (events,
every read model, the request log and its idempotent answers, the notification ledger,
checkpoints) holds none of the parcel's personal data, free text included; and `verify`
still passes."""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from parcelflow.adapters.signing import NoteSigner
from parcelflow.application.audit import history_report, verify
from parcelflow.application.claims import Claims
from parcelflow.application.complaints import Complaints
from parcelflow.application.erasure import Erasure
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.bootstrap import build_checkpoints
from parcelflow.domain.vocabulary import Channel, ComplaintCategory, Outcome
from parcelflow.settings import Settings
from tests.support.builders import journey, manifest, recent_start, scan, tracking
from tests.support.mail import MailSink

pytestmark = pytest.mark.postgres

RECEIVER = {"name": "李华", "phone": "13987654321", "email": "li.hua@example.com",
            "address": "上海市浦东新区世纪大道100号12楼1203", "language": "zh-CN"}
SENDER = {"name": "王小明", "phone": "13812345678", "address": "广东省深圳市南山区科技园路1号"}
# Free text people write, each with a name and a phone in another shape.
SIGNED_BY = "孙七"
NOTE = "放在后门 call 138.5555.0101"
DETAIL = "客户赵六说 call 139-5555-0202"
SUMMARY = "spoke with 赵六 on 139 5555 0303"
WORDS = "赵六: 快递员态度差 13955550404"
EVIDENCE = "photo-赵六-13955550505.jpg"
RESOLUTION = "赵六 accepted 13955550606"
PERSONAL = ["李华", "13987654321", "li.hua@example.com", "世纪大道", "王小明", "13812345678",
            "科技园路", "孙七", "后门", "5555.0101", "赵六", "5555-0202", "5555 0303",
            "13955550404", "13955550505", "13955550606", "139******21", "138******78"]


def dump(database_url: str) -> str:
    return subprocess.run(["pg_dump", "--no-owner", database_url], capture_output=True,
                          text=True, check=True, timeout=120).stdout


def found_in(text: str) -> list[str]:
    """Which personal data the dump holds, as text or inside bytea (hex)."""
    return [p for p in PERSONAL if p in text or p.encode().hex() in text]


def test_after_erase_no_personal_data_is_left_anywhere_and_verify_passes(api, postgres_url):
    svc, client = api.service, api.client
    t0 = recent_start()
    svc.clock.now = t0
    assert client.post("/v1/parcels", json=manifest(1, receiver=RECEIVER, sender=SENDER),
                       headers={**api.auth("orders"), "Idempotency-Key": "m-1"}).status_code == 200
    scans = journey(1, t0=t0)
    scans[-1] = {**scans[-1], "signed_by": SIGNED_BY}
    # The SHA hub reports weather, with a note the receiver is told.
    scans.insert(6, scan("exception", "SHA-HUB-02", 20.2, t0=t0, exception_code="weather",
                         note=NOTE))
    svc.clock.now = t0 + timedelta(hours=27)
    for facility in sorted({s["facility"] for s in scans}):
        batch = [s for s in scans if s["facility"] == facility]
        answer = client.post("/v1/scans", json=batch, headers={
            **api.auth(facility), "Idempotency-Key": f"s-{facility}"})
        assert answer.status_code == 200 and answer.json()["accepted"] == len(batch)
    raised = client.post("/v1/exceptions", json={"tracking_no": tracking(1), "code": "damaged",
                                                 "detail": DETAIL},
                         headers=api.auth("cs_agent")).json()["exception_id"]
    assert client.post(f"/v1/exceptions/{raised}/contact", headers=api.auth("cs_agent"), json={
        "tracking_no": tracking(1), "channel": "phone", "summary": SUMMARY}).status_code == 200
    Complaints(svc).file(tracking(1), ComplaintCategory.DAMAGE, Channel.PHONE, words=WORDS,
                         by="staff:emp-cs_agent")
    Claims(svc).file(tracking(1), "damaged", Decimal("300.00"), evidence=[EVIDENCE],
                     by="staff:emp-cs_agent")
    ExceptionWorkflow(svc).resolve(tracking(1), raised, Outcome.COMPENSATED,
                                   by="staff:emp-cs_agent", note=RESOLUTION)

    # What staff and auditors see before: opened where they may see it.
    head, items = history_report(svc, tracking(1), reveal=True)
    text = str([i.details for i in items])
    assert SIGNED_BY in text and NOTE in text and DETAIL in text and EVIDENCE in text
    masked = str([i.details for i in history_report(svc, tracking(1))[1]])
    assert "139******02" in masked and DETAIL not in masked

    mail = MailSink().start()
    try:
        from parcelflow.consumers.notifications.worker import build_notify_worker

        settings = Settings(_env_file=None, database_url=postgres_url, smtp_url=mail.url)
        worker = build_notify_worker(svc, settings)
        worker.run(threading.Event(), follow=False)
        worker.close()
        assert any("后门" in m.get_content() for m in mail.messages)  # the note, to the receiver
    finally:
        mail.stop()
    signer = NoteSigner.generate("test.parcelflow/checkpoints")
    checkpoints, verification = build_checkpoints(svc, Settings(
        _env_file=None, database_url=postgres_url, checkpoint_key=signer.private_text()))
    checkpoints.make()
    api.catch_up("tracking", "exceptions", "stats", "cases")
    before = found_in(dump(postgres_url))
    assert "139******21" in before  # the tracking view holds the masked receiver
    seen = client.get(f"/v1/parcels/{tracking(1)}", params={"phone_last4": "4321"})
    assert seen.status_code == 200 and "孙*" in seen.text  # who signed: masked
    for private in ("赵六", "5555", "后门", SIGNED_BY):  # staff text and notes: not shown
        assert private not in seen.text

    Erasure(svc).erase(tracking(1), by="dpo-1")
    api.catch_up("tracking", "exceptions", "stats", "cases")

    assert found_in(dump(postgres_url)) == []
    assert verify(svc, tracking(1)).ok
    assert verification.run().ok  # the events are untouched: the checkpoint still holds
    after = str([i.details for i in history_report(svc, tracking(1), reveal=True)[1]])
    assert "[erased]" in after and SIGNED_BY not in after
