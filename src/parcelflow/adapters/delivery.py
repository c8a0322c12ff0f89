"""What a channel adapter raises when a message could not be delivered."""

from __future__ import annotations


class DeliveryError(Exception):
    """A send failed. `permanent`: trying again will not help (a 4xx answer, a refused
    address), so the notification goes to the dead-letter topic at once."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
