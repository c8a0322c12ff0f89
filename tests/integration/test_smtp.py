"""The SMTP adapter against a real SMTP server (aiosmtpd, in-process)."""

from __future__ import annotations

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
    assert "unreachable" in caught.value.reason
