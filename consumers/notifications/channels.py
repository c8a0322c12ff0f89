"""The ways a notification goes out: email, SMS, merchant webhook.

Each channel knows whether it can reach a recipient and how to send it one message;
it raises `DeliveryError` when it could not.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from parcelflow.consumers.notifications.facts import EventFacts
from parcelflow.consumers.notifications.messages import Messages, webhook_payload

from parcelflow.adapters.sms import SmsProvider
from parcelflow.adapters.smtp import SmtpMailer
from parcelflow.adapters.webhooks import WebhookSender
from parcelflow.settings import WebhookEndpoint

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Recipient:
    key: str  # "receiver" or "merchant:<id>": the ledger's recipient, never an address
    name: str = ""
    email: str | None = None
    phone: str | None = None
    webhook: WebhookEndpoint | None = None


@dataclass(frozen=True)
class Notice:
    rule: str
    template: str
    channel: str
    recipient: str
    facts: EventFacts
    kind: str = ""  # the ledger's: "" the event's own message, "eta" its prediction's news

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.facts.ref.event_id, self.channel, self.recipient, self.kind)

    @cached_property
    def message_id(self) -> str:
        """Stable per notice: a resend after a crash carries the same id (the event's own
        message's id is the one it had before kinds existed)."""
        parts = self.key if self.kind else self.key[:3]
        return hashlib.blake2b("/".join(parts).encode(), digest_size=16,
                               person=b"pf-notice").hexdigest()


class Channel(Protocol):
    name: str

    def reaches(self, recipient: Recipient) -> bool: ...

    def send(self, notice: Notice, recipient: Recipient) -> None: ...


class EmailChannel:
    name = "email"

    def __init__(self, smtp_url: str, sender: str, messages: Messages):
        self.smtp_url, self.sender = smtp_url, sender
        self.messages = messages
        self._local = threading.local()  # an SMTP connection is one conversation: one per thread
        self._mailers: list[SmtpMailer] = []
        self._lock = threading.Lock()

    def _mailer(self) -> SmtpMailer:
        mailer = getattr(self._local, "mailer", None)
        if mailer is None:
            mailer = self._local.mailer = SmtpMailer(self.smtp_url, self.sender)
            with self._lock:
                self._mailers.append(mailer)
        return mailer

    def close(self) -> None:
        with self._lock:
            for mailer in self._mailers:
                mailer.close()
            self._mailers.clear()

    def reaches(self, recipient: Recipient) -> bool:
        return bool(recipient.email and _EMAIL.match(recipient.email))

    def send(self, notice: Notice, recipient: Recipient) -> None:
        message = self.messages.render(notice.template, notice.facts, receiver_name=recipient.name)
        assert recipient.email is not None
        self._mailer().send(to=recipient.email, subject=message.subject, body=message.body,
                            message_id=notice.message_id,
                            language=self.messages.language(notice.template,
                                                            notice.facts.language))


class SmsChannel:
    name = "sms"

    def __init__(self, provider: SmsProvider, messages: Messages):
        self.provider = provider
        self.messages = messages

    def reaches(self, recipient: Recipient) -> bool:
        return bool(recipient.phone and sum(c.isdigit() for c in recipient.phone) >= 7)

    def send(self, notice: Notice, recipient: Recipient) -> None:
        message = self.messages.render(notice.template, notice.facts, receiver_name=recipient.name)
        assert recipient.phone is not None
        self.provider.send(phone=recipient.phone, text=message.sms, message_id=notice.message_id)


class WebhookChannel:
    name = "webhook"

    def __init__(self, sender: WebhookSender):
        self.sender = sender

    def reaches(self, recipient: Recipient) -> bool:
        return recipient.webhook is not None

    def close(self) -> None:
        self.sender.close()

    def send(self, notice: Notice, recipient: Recipient) -> None:
        assert recipient.webhook is not None
        self.sender.send(url=recipient.webhook.url,
                         secret=recipient.webhook.secret.get_secret_value(),
                         msg_id=f"msg_{notice.message_id}",
                         body=webhook_payload(notice.template, notice.facts))
