"""Deciding and sending: events in, messages out, ledger entries back.

For a batch of events: read what each event means for its parcel (facts), ask the rules
who is told what, drop what the ledger says was already handled, open the receivers'
contact details (with each parcel's key; never logged), and send. Each recipient
hears about a parcel in event order; everything else goes out side by side. A failed send is
tried again with backoff; after the last try (or at once when the failure is
permanent) it is given up on with its reason, and the batch moves on.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import structlog
from parcelflow.consumers.notifications.channels import Channel, Notice, Recipient
from parcelflow.consumers.notifications.facts import EventFacts, EventRef, FactFinder
from parcelflow.consumers.notifications.ledger import (
    DEAD_LETTER_PENDING,
    FAILED,
    SENT,
    Entry,
    Key,
    NotificationLedger,
)
from parcelflow.consumers.notifications.rules import Rules
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from parcelflow import metrics
from parcelflow.adapters.delivery import DeliveryError
from parcelflow.application.personal_data import is_sealed
from parcelflow.application.service import ParcelService
from parcelflow.settings import WebhookEndpoint

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Handled:
    notice: Notice
    entry: Entry

    @property
    def failed(self) -> bool:
        """Given up on: just now, or earlier with its dead letter still pending."""
        return self.entry.outcome in (FAILED, DEAD_LETTER_PENDING)

    def pending(self) -> Handled:
        """Given up on, to be recorded as such until its dead letter is acknowledged."""
        return Handled(self.notice, replace(self.entry, outcome=DEAD_LETTER_PENDING))


@dataclass(frozen=True)
class Decided:
    """A batch decided, not yet sent (`Notifier.decide`)."""

    events: int
    again: list[Handled]  # given up on before, the dead letter still to publish
    todo: list[Notice]  # to send, in event order
    recipients: dict[tuple[str, str], Recipient]


class ChannelUnavailable(Exception):
    """A channel itself is away (see `DeliveryError.unavailable`): the batch is to be
    tried again later. `handled`: what this batch did send or give up on meanwhile
    (see `Notifier.process_or_keep`)."""

    def __init__(self, reason: str, handled: list[Handled]):
        super().__init__(reason)
        self.reason = reason
        self.handled = handled


def _worth_retrying(error: BaseException) -> bool:
    """A delivery failure another attempt may mend (not refused for good, and not the
    channel being away)."""
    return isinstance(error, DeliveryError) and not error.permanent and not error.unavailable


class Notifier:
    def __init__(self, service: ParcelService, rules: Rules, channels: Mapping[str, Channel],
                 ledger: NotificationLedger, *, webhooks: Mapping[str, WebhookEndpoint],
                 max_attempts: int = 5, retry_seconds: float = 0.5, concurrency: int = 32):
        self.service = service
        self.rules = rules
        self.channels = dict(channels)
        self.ledger = ledger
        self.webhooks = dict(webhooks)
        # Only what the rules on this worker's channels can use is found.
        self.facts = FactFinder(service, predictions=rules.use_predictions(self.channels),
                                for_receivers=rules.tell_receivers(self.channels))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="notify")
        # One policy for every message, shared by the sending threads: tenacity keeps an
        # iteration's state and statistics per thread (`Retrying._local`). A `Retrying`
        # made per message was a reference cycle each (its per-thread state holds bound
        # methods of itself), ~14 objects a message left to the cyclic collector: in a
        # staggered run the notifiers' young collections freed 20,000-28,000 of them
        # every few seconds, pausing the worker 90-500 ms each time.
        self._retrying = Retrying(
            stop=stop_after_attempt(max_attempts),
            wait=wait_exponential(multiplier=retry_seconds, max=30),
            # A channel that is away is not tried again message by message: the whole
            # batch is, later (see `process`).
            retry=retry_if_exception(_worth_retrying),
            reraise=True)

    def notices(self, facts: Sequence[EventFacts]) -> list[Notice]:
        found: dict[Key, Notice] = {}
        for f in facts:
            for rule, channel in self.rules.decide(f):
                if channel not in self.channels:
                    continue  # not configured here (no SMTP server, no SMS provider)
                recipient = "receiver" if rule.to == "receiver" else f"merchant:{f.merchant_id}"
                if rule.to == "merchant" and f.merchant_id not in self.webhooks:
                    continue
                notice = Notice(rule.name, rule.template, channel, recipient, f, rule.kind)
                # The same event twice in one batch; or a second rule for the same kind
                # of message (the first one's goes).
                found.setdefault(notice.key, notice)
        return list(found.values())

    def process(self, refs: Sequence[EventRef]) -> list[Handled]:
        """Send what these events call for and was not handled before; the ledger entries
        to record (the caller records them with its offsets or position)."""
        return self.send(self.decide(refs))

    def decide(self, refs: Sequence[EventRef]) -> Decided:
        """What these events call for and the ledger does not hold yet, ready to send
        (contact details opened): the half of `process` that sends nothing, so the next
        batch can be decided while this one's messages are on their way."""
        deciding = time.perf_counter()
        notices = self.notices(self.facts.facts(refs))
        log.debug("notify.decided", events=len(refs), notices=len(notices),
                  facts_ms=round((time.perf_counter() - deciding) * 1000))
        if not notices:
            return Decided(len(refs), [], [], {})
        done = self.ledger.recorded([n.key for n in notices])
        # Given up on in an earlier try whose dead letter the broker never took: not sent
        # again, only handed back for its dead letter to be published again.
        again = [Handled(n, self._entry(n, DEAD_LETTER_PENDING, done[n.key].reason))
                 for n in notices if n.key in done and done[n.key].outcome == DEAD_LETTER_PENDING]
        todo = [n for n in notices if n.key not in done]
        if not todo:
            return Decided(len(refs), again, [], {})
        todo = self._open_notes(todo)
        return Decided(len(refs), again, todo, self._recipients(todo))

    def send(self, decided: Decided, *, handled_before: Collection[Key] = ()) -> list[Handled]:
        """Send what `decide` found. `handled_before`: keys the batch just before this one
        handled after this one was decided (so the ledger did not show them yet): left out."""
        again, todo = decided.again, decided.todo
        if handled_before:
            again = [h for h in again if h.notice.key not in handled_before]
            todo = [n for n in todo if n.key not in handled_before]
        if not todo:
            return again
        sending = time.perf_counter()
        # In event order for each parcel and recipient; everything else side by side.
        queues: dict[tuple[str, str], list[Notice]] = defaultdict(list)
        for notice in todo:
            queues[(notice.facts.tracking_no, notice.recipient)].append(notice)
        away: dict[str, DeliveryError] = {}  # channels found away in this batch
        recipients = decided.recipients
        results = self._pool.map(lambda ns: self._deliver_in_order(ns, recipients, away),
                                 queues.values())
        handled = again + [h for batch in results for h in batch]
        if away:
            raise ChannelUnavailable(next(iter(away.values())).reason, handled)
        log.debug("notify.batch", events=decided.events, notices=len(todo),
                  send_ms=round((time.perf_counter() - sending) * 1000))
        return handled

    def process_or_keep(self, refs: Sequence[EventRef], *,
                        given_up_is_done: bool) -> list[Handled]:
        """`process`; when a channel is away, what did go out is recorded in the ledger
        (so the batch's retry does not send it twice) and `ChannelUnavailable` raised for
        the worker to try the batch again later, from the same place. What was given up
        on is recorded too when that is the end of it (`given_up_is_done`: no
        dead-letter topic to publish it to first); otherwise it is recorded as
        `dead_letter_pending`, and the retry publishes its dead letter without sending it
        again."""
        return self.send_or_keep(self.decide(refs), given_up_is_done=given_up_is_done)

    def send_or_keep(self, decided: Decided, *, given_up_is_done: bool,
                     handled_before: Collection[Key] = ()) -> list[Handled]:
        """`send`, recording what did go out when a channel is away (see `process_or_keep`)."""
        try:
            return self.send(decided, handled_before=handled_before)
        except ChannelUnavailable as e:
            self.ledger.record([h.entry if given_up_is_done or not h.failed
                                else h.pending().entry for h in e.handled])
            raise

    def _open_notes(self, notices: list[Notice]) -> list[Notice]:
        """The scanner's note, sealed in the store, opened for the receiver's message
        only (kept for this batch, never logged); [erased] once erased."""
        sealed = {n.facts.ref.parcel_id for n in notices
                  if n.recipient == "receiver" and is_sealed(n.facts.note)}
        if not sealed:
            return notices
        opener = self.service.personal.opener(list(sealed))
        return [replace(n, facts=replace(n.facts, note=opener.text(
                    n.facts.ref.parcel_id, n.facts.note, reveal=True)))
                if n.recipient == "receiver" and is_sealed(n.facts.note) else n
                for n in notices]

    def _recipients(self, notices: Sequence[Notice]) -> dict[tuple[str, str], Recipient]:
        """Who each notice goes to, by (tracking_no, recipient key). Receivers' contact
        details are opened here, with the parcel's key, and kept only for this batch."""
        found: dict[tuple[str, str], Recipient] = {}
        receivers = {n.facts.ref.parcel_id: n.facts for n in notices if n.recipient == "receiver"}
        opener = self.service.personal.opener(list(receivers)) if receivers else None
        for notice in notices:
            key = (notice.facts.tracking_no, notice.recipient)
            if key in found:
                continue
            if notice.recipient == "receiver":
                assert opener is not None
                party = opener.open(notice.facts.ref.parcel_id, notice.facts.receiver_sealed,
                                    reveal=True)
                found[key] = Recipient("receiver", name=party.get("name") or "",
                                       email=party.get("email"), phone=party.get("phone"))
            else:
                merchant = notice.recipient.split(":", 1)[1]
                found[key] = Recipient(notice.recipient, webhook=self.webhooks.get(merchant))
        return found

    def _deliver_in_order(self, notices: list[Notice],
                          recipients: dict[tuple[str, str], Recipient],
                          away: dict[str, DeliveryError]) -> list[Handled]:
        """One recipient's notices about one parcel, in event order. Once a channel
        turns out to be away, nothing more is tried on it in this batch (every other
        queue sees that too), and this queue's later notices wait for the retry."""
        done: list[Handled] = []
        for notice in notices:
            if notice.channel in away:
                break
            outcome = self._deliver(notice, recipients)
            if isinstance(outcome, DeliveryError):
                away.setdefault(notice.channel, outcome)
                break
            if outcome is not None:
                done.append(outcome)
        return done

    def _deliver(self, notice: Notice, recipients: dict[tuple[str, str], Recipient]
                 ) -> Handled | DeliveryError | None:
        channel = self.channels[notice.channel]
        recipient = recipients[(notice.facts.tracking_no, notice.recipient)]
        if not channel.reaches(recipient):
            return None  # no address for this channel (or erased): nothing to send
        try:
            for attempt in self._retrying:
                with attempt:
                    channel.send(notice, recipient)
        except Exception as e:  # noqa: BLE001 — given up on: recorded, dead-lettered, moved past
            if isinstance(e, DeliveryError) and e.unavailable:
                log.warning("notify.channel_unavailable", channel=notice.channel,
                            reason=e.reason)
                return e  # not given up on: the whole batch is tried again later
            reason = e.reason if isinstance(e, DeliveryError) else f"{type(e).__name__}: {e}"
            metrics.NOTIFICATIONS_FAILED.labels(notice.channel).inc()
            log.warning("notify.failed", channel=notice.channel, rule=notice.rule,
                        tracking_no=notice.facts.tracking_no, reason=reason)
            return Handled(notice, self._entry(notice, FAILED, reason))
        metrics.NOTIFICATIONS_SENT.labels(notice.channel).inc()
        recorded_at = notice.facts.recorded_at
        if recorded_at is not None:
            metrics.NOTIFICATION_DELAY_SECONDS.observe(max(0.0, time.time() - recorded_at.timestamp()))
        return Handled(notice, self._entry(notice, SENT))

    @staticmethod
    def _entry(notice: Notice, outcome: str, reason: str | None = None) -> Entry:
        return Entry(notice.key, notice.rule, notice.facts.tracking_no, outcome, reason)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
