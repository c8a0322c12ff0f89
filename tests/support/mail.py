"""A real SMTP server in the test process (aiosmtpd), keeping what it receives."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.serving import free_port


def subject(message: EmailMessage) -> str:
    """The Subject as a reader sees it (a folded header keeps the fold's leading space)."""
    return str(message["Subject"]).strip()


async def ehlo(session: Any, hostname: str, responses: list[str], *,
               pipelining: bool) -> list[str]:
    """aiosmtpd's EHLO answer, with PIPELINING (RFC 2920) offered or not: aiosmtpd reads
    commands in order from its stream, so it serves a pipelining client as it is, but
    does not say so itself, while the mail servers parcelflow talks to in production
    (Postfix, Exim, the big providers) do."""
    session.host_name = hostname
    if pipelining:
        responses.insert(len(responses) - 1, "250-PIPELINING")
    return responses


class MailSink:
    def __init__(self, *, pipelining: bool = False) -> None:
        self.pipelining = pipelining
        self.messages: list[EmailMessage] = []
        self.received_at: list[float] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        return await ehlo(session, hostname, responses, pipelining=self.pipelining)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.received_at.append(time.time())
        return "250 OK"

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} emails arrived"
            time.sleep(0.05)
        return list(self.messages)
