"""The SMTP adapter against a real SMTP server (aiosmtpd, in-process)."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from parcelflow.adapters.delivery import DeliveryError
from parcelflow.adapters.smtp import SmtpMailer
from tests.support.mail import MailSink


@pytest.fixture
def mail():
    sink = MailSink().start()
    yield sink
    sink.stop()


def test_a_long_message_arrives_whole_with_its_headers(mail: MailSink) -> None:
    # Longer than the 998 bytes an SMTP line may hold: sent with bare LF line ends, the
    # whole message would read as one line and be refused.
    body = "\n".join(f"第{i}行：您的包裹 PF1234567890 正在派送，预计今天送达。" for i in range(80))
    mailer = SmtpMailer(mail.url, "Parcelflow <noreply@parcelflow.local>")
    try:
        mailer.send(to="li.na@example.com", subject="您的包裹正在派送", body=body,
                    message_id="abc123", language="zh-CN")
        mailer.send(to="li.na@example.com", subject="second on the same connection",
                    body="short", message_id="abc124", language="en")
    finally:
        mailer.close()
    first, second = mail.wait_for(2)
    assert str(first["Subject"]) == "您的包裹正在派送"
    assert first["Message-ID"] == "<abc123@parcelflow>"
    assert first["Content-Language"] == "zh-CN"
    assert first.get_content().replace("\r\n", "\n") == body
    assert str(second["Subject"]) == "second on the same connection"


def test_an_unreachable_server_is_a_retryable_delivery_error() -> None:
    mailer = SmtpMailer("smtp://127.0.0.1:9", "noreply@parcelflow.local", timeout=2)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(to="li.na@example.com", subject="s", body="b", message_id="x",
                    language="en")
    assert not caught.value.permanent
    assert caught.value.unavailable  # the channel is away, not this one message
    assert "unreachable" in caught.value.reason


class Recorder:
    """A real SMTP server (aiosmtpd) that records envelopes; SMTPUTF8 offered or not."""

    def __init__(self, *, smtputf8: bool, pipelining: bool = False):
        from aiosmtpd.controller import Controller

        from tests.support.serving import free_port

        self.received: list[tuple[str, list[str]]] = []
        self.messages: list[bytes] = []
        self.refuse_rcpt: list[str] = []  # replies to the next RCPTs, e.g. "421 closing"
        self.pipelining = pipelining
        self.port = free_port()
        self._server = Controller(self, hostname="127.0.0.1", port=self.port,
                                  enable_SMTPUTF8=smtputf8)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]  # noqa: N802
        from tests.support.mail import ehlo

        return await ehlo(session, hostname, responses, pipelining=self.pipelining)

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]  # noqa: N802
        if self.refuse_rcpt:
            return self.refuse_rcpt.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(envelope.original_content)
        return "250 OK"

    def __enter__(self) -> Recorder:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def test_an_address_the_server_cannot_take_costs_that_email_only() -> None:
    with Recorder(smtputf8=False) as server:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}", "noreply@parcelflow.local")
        try:
            with pytest.raises(DeliveryError) as caught:
                mailer.send(to="李华@例子.中国", subject="s", body="b", message_id="x1",
                            language="zh-CN")
            assert caught.value.permanent and "SMTPUTF8" in caught.value.reason
            # the kept-open connection is not left halfway through that message
            mailer.send(to="li.na@example.com", subject="next", body="b", message_id="x2",
                        language="zh-CN")
        finally:
            mailer.close()
    assert server.received == [("noreply@parcelflow.local", ["li.na@example.com"])]


def test_an_address_beyond_ascii_goes_out_over_smtputf8() -> None:
    with Recorder(smtputf8=True) as server:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}", "noreply@parcelflow.local")
        try:
            mailer.send(to="李华@例子.中国", subject="您的包裹", body="已签收", message_id="x3",
                        language="zh-CN")
        finally:
            mailer.close()
    assert server.received == [("noreply@parcelflow.local", ["李华@例子.中国"])]
    message = message_from_bytes(server.messages[0], policy=policy.SMTPUTF8)
    assert message["To"] == "李华@例子.中国" and str(message["Subject"]) == "您的包裹"
    assert message.get_content().strip() == "已签收"


@pytest.mark.parametrize(("reply", "permanent", "unavailable"), [
    ("421 closing down for maintenance", False, True),  # the server, for every message
    ("450 mailbox busy, try later", False, False),  # this message: tried again later
    ("550 no such mailbox", True, False),  # this message: given up on
])
def test_a_refused_recipient_is_told_apart_from_a_server_going_away(reply, permanent,
                                                                   unavailable) -> None:
    with Recorder(smtputf8=True) as server:
        server.refuse_rcpt.append(reply)
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}", "noreply@parcelflow.local")
        try:
            with pytest.raises(DeliveryError) as caught:
                mailer.send(to="li.na@example.com", subject="s", body="b", message_id="r1",
                            language="en")
            assert (caught.value.permanent, caught.value.unavailable) == (permanent,
                                                                          unavailable)
            mailer.send(to="wang@example.com", subject="next", body="b", message_id="r2",
                        language="en")  # and the next one goes out
        finally:
            mailer.close()
    assert server.received == [("noreply@parcelflow.local", ["wang@example.com"])]


@pytest.mark.parametrize("to", ["li.na@example.com", "李华@例子.中国"])
def test_every_email_has_a_date_and_its_language_whatever_the_address(to: str) -> None:
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    with Recorder(smtputf8=True) as server:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}", "Parcelflow <noreply@pf.local>")
        try:
            mailer.send(to=to, subject="您的包裹已签收", body="已签收", message_id="d1",
                        language="zh-CN")
        finally:
            mailer.close()
    sent_at = datetime.now(timezone.utc)
    # The strict policy raises on any defect the parser finds (RFC 5322 / MIME).
    strict = policy.strict if to.isascii() else policy.SMTPUTF8.clone(raise_on_defect=True)
    message = message_from_bytes(server.messages[0], policy=strict)
    assert message.defects == []
    assert message["To"] == to and message["Content-Language"] == "zh-CN"
    dated = parsedate_to_datetime(message["Date"])  # RFC 5322 date-time with a numeric zone
    assert dated.tzinfo is not None and abs((sent_at - dated).total_seconds()) < 60
    assert len(message.get_all("Date")) == 1
    assert message.get_content().strip() == "已签收"


@pytest.mark.parametrize(("reply", "permanent", "unavailable"), [
    ("421 closing down for maintenance", False, True),
    ("450 mailbox busy, try later", False, False),
    ("550 no such mailbox", True, False),
])
def test_a_server_offering_pipelining_gets_the_same_messages_and_the_same_refusals(
        reply, permanent, unavailable) -> None:
    """MAIL, RCPT and DATA in one write where PIPELINING is offered: every message
    arrives as it would one command at a time, a refused recipient costs that message
    only, and the connection carries on (or is dropped after a 421) as before."""
    body = "\n".join(f".第{i}行：您的包裹 PF1234567890 正在派送。" for i in range(60))
    with Recorder(smtputf8=True, pipelining=True) as server:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}", "noreply@parcelflow.local")
        try:
            mailer.send(to="li.na@example.com", subject="您的包裹正在派送", body=body,
                        message_id="p1", language="zh-CN")
            assert mailer._client is not None and mailer._client.has_extn("pipelining")
            server.refuse_rcpt.append(reply)
            with pytest.raises(DeliveryError) as caught:
                mailer.send(to="no.one@example.com", subject="s", body="b", message_id="p2",
                            language="en")
            assert (caught.value.permanent, caught.value.unavailable) == (permanent,
                                                                          unavailable)
            for n in range(3):  # and the next ones go out, on one connection
                mailer.send(to="wang@example.com", subject=f"next {n}", body="b",
                            message_id=f"p{3 + n}", language="en")
        finally:
            mailer.close()
    assert server.received == [("noreply@parcelflow.local", ["li.na@example.com"])] + \
        [("noreply@parcelflow.local", ["wang@example.com"])] * 3
    first = message_from_bytes(server.messages[0], policy=policy.default)
    assert first["Message-ID"] == "<p1@parcelflow>"
    assert first.get_content().replace("\r\n", "\n") == body
