"""What a channel adapter raises when a message could not be delivered."""

from __future__ import annotations


class DeliveryError(Exception):
    """A send failed. `permanent`: trying again will not help (a 4xx answer, a refused
    address), so the notification goes to the dead-letter topic at once.
    `unavailable`: the channel itself is away (our mail server down, or refusing our
    login), not this one message: a worker stops and tries its batch again later
    rather than give up on every message meanwhile."""

    def __init__(self, reason: str, *, permanent: bool = False, unavailable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent and not unavailable
        self.unavailable = unavailable
