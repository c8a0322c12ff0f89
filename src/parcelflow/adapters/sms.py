"""Text messages behind a provider interface.

No SMS gateway is wired in yet. `RecordingSmsProvider` sends nothing: it records what
would have been sent (in memory), for development and tests, and says so in its name.
A real provider implements `SmsProvider.send` and raises `DeliveryError` on failure.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol


class SmsProvider(Protocol):
    def send(self, *, phone: str, text: str, message_id: str) -> None: ...


@dataclass(frozen=True)
class RecordedSms:
    phone: str
    text: str
    message_id: str


class RecordingSmsProvider:
    """Records texts instead of sending them. Not a gateway: nothing reaches a phone.
    Keeps the latest `keep` only, so a long-running worker does not grow without end."""

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self.sent: deque[RecordedSms] = deque(maxlen=keep)

    def send(self, *, phone: str, text: str, message_id: str) -> None:
        with self._lock:
            self.sent.append(RecordedSms(phone, text, message_id))
