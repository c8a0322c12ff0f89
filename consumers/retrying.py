"""How a worker keeps going while the database or the broker is away.

A worker's loop is a series of steps: one Kafka poll handled and committed, or one batch
of the store's log handled and its position saved. A step that fails is tried again
after a wait that doubles from 0.2 s up to a cap (10 s), for as long as the worker runs;
a step that succeeds leaves the next one to start afresh (waits from 0.2 s again).
tenacity runs each step (one `Retrying` call per step, so its attempts count the
failures in a row); a stop request cuts a wait short and ends the loop quietly.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog
from eventsourcing.persistence import Notification
from tenacity import RetryCallState, Retrying, stop_when_event_set, wait_exponential

from parcelflow.adapters.log_follower import LogFollower

log = structlog.get_logger(__name__)


def error_summary(error: BaseException | None) -> str:
    """An error as a log line or a dead letter may carry it: its type and where it was
    raised (the innermost frame of parcelflow's own code), never its message, which can
    quote the data it tripped over (a database error's DETAIL, a value)."""
    if error is None:
        return "unknown"
    ours = [(frame.f_globals.get("__name__", "?"), frame.f_code.co_name, line)
            for frame, line in traceback.walk_tb(error.__traceback__)
            if str(frame.f_globals.get("__name__", "")).startswith("parcelflow")]
    where = f" in {ours[-1][0]}.{ours[-1][1]}:{ours[-1][2]}" if ours else ""
    return f"{type(error).__name__}{where}"


def retrying(event: str, stop: threading.Event, *, first: float = 0.2, most: float = 10.0,
             **fields: Any) -> Retrying:
    """Call a step with `retrying(event, stop)(step, ...)`: its result, or None when
    `stop` was set while it was failing. Each failure is logged as `event`."""

    def report(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(event, **fields, error=error_summary(error),
                    attempt=state.attempt_number,
                    retry_in=round(state.next_action.sleep if state.next_action else 0, 2))

    return Retrying(
        wait=wait_exponential(multiplier=first, max=most),  # retries any Exception
        stop=stop_when_event_set(stop),
        sleep=stop.wait,  # a stop request ends the wait at once
        before_sleep=report,
        retry_error_callback=lambda state: None,  # stopped while failing: no raise
    )


def follow_saved_position(follower: LogFollower, position: Callable[[], int],
                          handle: Callable[[Sequence[Notification]], None],
                          stop: threading.Event, *, follow: bool, retry: Retrying) -> None:
    """Give each batch of the log after the saved `position()` to `handle` (which does the
    work and saves the position), up to the head (without `follow`) or until `stop`.

    A batch that fails (reading, handling or saving) is read again from the saved
    position after the retry's wait: nothing is skipped, and a batch handled but not
    saved is handled again (the handlers make that harmless)."""
    batches: Iterator[Sequence[Notification]] | None = None

    def step() -> bool:
        nonlocal batches
        if batches is None:
            batches = follower.batches(position(), follow=follow, stop=stop)
        try:
            notes = next(batches, None)
            if notes is not None:
                handle(notes)
        except Exception:
            batches = None  # start again from the saved position
            raise
        return notes is not None

    while not stop.is_set() and retry(step):
        pass
