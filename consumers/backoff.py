"""How long a worker waits before trying again: exponential, capped (tenacity's rule)."""

from __future__ import annotations

from tenacity import wait_exponential


class Backoff:
    def __init__(self, *, first: float = 0.2, most: float = 10.0):
        self._wait = wait_exponential(multiplier=first, max=most)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failure in a row (1, 2, ...)."""
        return float(self._wait(_Attempt(attempt)))


class _Attempt:
    """The one field of tenacity's RetryCallState its wait rules read."""

    def __init__(self, number: int):
        self.attempt_number = number
