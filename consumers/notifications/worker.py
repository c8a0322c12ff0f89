"""`parcelflow notify`: the notification worker, fed by Kafka or by the store itself.

- With Kafka configured: a consumer group on `parcelflow.parcel-events.v1`. Per poll:
  decide (while the previous poll's messages are still going out) and send, record what was sent in the ledger (and what was given up on, as
  pending its dead letter), publish what was given up on to
  `parcelflow.notifications.dlq.v1` (the original CloudEvent, with the reason, channel,
  recipient and rule in headers) and mark it done once the broker took it, then commit
  the offsets.
- Without (the embedded default): the same notifier follows the store's notification
  log from its own saved position; ledger entries and the position are written in one
  transaction. What was given up on stays in the ledger (outcome "failed", with the
  reason) and in the log. On a sharded store it follows every shard's log, one position
  per shard (saved beside the ledger, on the first shard, in the same transaction as the
  batch's ledger rows), one thread per shard, like the relay. A parcel lives on one
  shard, so its receiver still hears about it in event order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from uuid import UUID

import orjson
import structlog
from eventsourcing.persistence import Notification
from kafka.consumer.fetcher import ConsumerRecord
from parcelflow.consumers import parcel_events
from parcelflow.consumers.kafka_batches import BatchConsumer, DeadLetter
from parcelflow.consumers.notifications.channels import (
    Channel,
    EmailChannel,
    SmsChannel,
    WebhookChannel,
)
from parcelflow.consumers.notifications.facts import EventRef
from parcelflow.consumers.notifications.ledger import Key, NotificationLedger
from parcelflow.consumers.notifications.messages import Messages
from parcelflow.consumers.notifications.notifier import ChannelUnavailable, Notifier
from parcelflow.consumers.notifications.rules import Rules
from parcelflow.consumers.retrying import follow_saved_position, retrying

from parcelflow.adapters import kafka
from parcelflow.adapters.log_follower import LogFollower, batch_end
from parcelflow.adapters.positions import PositionStore
from parcelflow.adapters.sms import RecordingSmsProvider, SmsProvider
from parcelflow.adapters.webhooks import WebhookSender
from parcelflow.application.service import ParcelService
from parcelflow.settings import NotifyChannel, Settings

log = structlog.get_logger(__name__)


def event_ref(record: ConsumerRecord) -> tuple[EventRef | None, str | None]:
    """The parcel event a CloudEvent message is about, or why it cannot be read."""
    try:
        cloudevent = orjson.loads(record.value or b"")
        data = cloudevent["data"]
        ref = EventRef(str(cloudevent["id"]), UUID(str(data["parcel_id"])),
                       int(data["version"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        return None, f"not a parcelflow CloudEvent: {type(e).__name__}: {e}"
    if not str(cloudevent.get("type", "")).startswith(parcel_events.TYPE_PREFIX):
        return None, None  # someone else's event type: not ours to notify about
    return ref, None


class KafkaNotifyWorker:
    """Per poll: decide (while the poll before it is being sent), then send; record
    what was sent, and what was given up on as `dead_letter_pending`, in the ledger; publish the given-up messages to the
    dead-letter topic and only then mark them `failed` (a dead letter the broker did not
    take is published again with the batch's retry, and its message not sent again);
    commit. So each message goes out at most once per channel and recipient."""

    def __init__(self, notifier: Notifier, batches: BatchConsumer):
        self.notifier = notifier
        self.batches = batches
        # What the poll finished last handled, once its dead letters were taken: the
        # poll decided meanwhile leaves it out (the ledger did not show it yet).
        self._last_handled: set[Key] = set()
        self._finished: set[Key] = set()  # what the poll being finished handled

    def handle(self, records: list[ConsumerRecord]) -> list[DeadLetter]:
        return self.begin(records)()

    def begin(self, records: list[ConsumerRecord]) -> Callable[[], list[DeadLetter]]:
        """Decide a poll (nothing sent, nothing recorded); the returned `finish` sends,
        records and says what to dead-letter. `run` decides the next poll while this
        one's `finish` runs (`BatchConsumer.run_ahead`)."""
        dead: list[DeadLetter] = []
        refs: list[EventRef] = []
        source: dict[str, ConsumerRecord] = {}
        for record in records:
            ref, reason = event_ref(record)
            if reason is not None:
                dead.append(DeadLetter(record, reason))
            elif ref is not None:
                refs.append(ref)
                source.setdefault(ref.event_id, record)
        decided = self.notifier.decide(refs)

        def finish() -> list[DeadLetter]:
            # Decided before the poll ahead of it was recorded: what that one handled
            # is not sent again (the ledger shows it only now).
            handled = self.notifier.send_or_keep(decided, given_up_is_done=False,
                                                 handled_before=self._last_handled)
            # What went out, and what was given up on (as pending its dead letter), is
            # recorded at once, before anything else can fail: a retry of this batch (the
            # dead-letter publish failed, the worker died) sends neither again.
            self.notifier.ledger.record([h.pending().entry if h.failed else h.entry
                                         for h in handled])
            self._finished = {h.notice.key for h in handled}
            letters = list(dead)
            for h in handled:
                if not h.failed:
                    continue
                n = h.notice
                letters.append(DeadLetter(source[n.facts.ref.event_id],
                                          h.entry.reason or "failed",
                                          headers=[("parcelflow-channel", n.channel.encode()),
                                                   ("parcelflow-recipient", n.recipient.encode()),
                                                   ("parcelflow-rule", n.rule.encode())],
                                          token=h.entry.key))
            return letters

        return finish

    def settle(self, dead: list[DeadLetter]) -> None:
        """The dead letters are on the topic: what was given up on is now done. (The poll
        is about to be committed: the next one leaves out what it handled.)"""
        self.notifier.ledger.dead_lettered([d.token for d in dead if d.token is not None])
        self._last_handled, self._finished = self._finished, set()

    def run(self, stop: threading.Event) -> None:
        log.info("notify.started", source="kafka", topic=self.batches.consumer.subscription())
        self.batches.run_ahead(self.begin, stop, settle=self.settle)

    def close(self) -> None:
        self.batches.close()
        self.notifier.close()


def worker_name(settings: Settings) -> str:
    """`notify`, or `notify-email-sms` for a worker on some channels only: each set of
    channels has its own consumer group (Kafka) or saved position (store)."""
    chosen = sorted(set(settings.notify_channels))
    return "notify" if set(chosen) == set(NotifyChannel) else "notify-" + "-".join(chosen)


class StoreNotifyWorker:
    def __init__(self, notifier: Notifier, positions: PositionStore, follower: LogFollower,
                 *, name: str = "notify"):
        self.name = name
        self.notifier = notifier
        self.positions = positions
        self.follower = follower

    @property
    def position(self) -> int:
        return self.positions.get(self.name)

    def run(self, stop: threading.Event, *, follow: bool = True) -> None:
        log.info("notify.started", source="store", position=self.position)
        # The store away: the batch is read again from the saved position once it is back.
        follow_saved_position(self.follower, lambda: self.position, self._handle, stop,
                              follow=follow, retry=retrying("notify.retry", stop))

    def _handle(self, notes: Sequence[Notification]) -> None:
        refs = [EventRef(parcel_events.event_id(n.originator_id, n.originator_version),
                         n.originator_id, n.originator_version) for n in notes]
        handled = self.notifier.process_or_keep(refs, given_up_is_done=True)
        with self.notifier.ledger.transaction() as cursor:  # both or neither
            self.notifier.ledger.record([h.entry for h in handled], cursor=cursor)
            self.positions.save(self.name, batch_end(notes), cursor=cursor)

    def close(self) -> None:
        self.follower.close()
        self.notifier.close()


class ShardedStoreNotifyWorker:
    """One `StoreNotifyWorker` per shard's log, sharing one notifier (its ledger and the
    positions on the first shard). Position names follow the read side's: the first
    shard's keeps the worker's name, the others add `@` and the shard's name."""

    def __init__(self, workers: Sequence[StoreNotifyWorker]):
        self.workers = list(workers)
        self.notifier = self.workers[0].notifier

    @property
    def positions(self) -> list[int]:
        return [w.position for w in self.workers]

    def run(self, stop: threading.Event, *, follow: bool = True) -> None:
        from parcelflow.entrypoints.per_shard import run_per_shard

        run_per_shard([lambda w=w: w.run(stop, follow=follow) for w in self.workers], stop,
                      "notify")

    def close(self) -> None:
        for w in self.workers:
            w.follower.close()
        self.notifier.close()


def build_notifier(service: ParcelService, settings: Settings, *,
                   sms: SmsProvider | None = None) -> Notifier:
    from parcelflow.bootstrap import build_surveys

    surveys = build_surveys(service, settings)
    messages = Messages(tracking_url=settings.tracking_url, zone=service.network.zone,
                        survey_link=surveys.delivery_link if surveys else None)
    wanted = set(settings.notify_channels)
    channels: dict[str, Channel] = {}
    if "webhook" in wanted:
        channels["webhook"] = WebhookChannel(WebhookSender())
    if settings.smtp_url and "email" in wanted:
        channels["email"] = EmailChannel(settings.smtp_url, settings.smtp_from, messages)
    if sms is None and settings.sms_provider == "recording" and "sms" in wanted:
        log.warning("notify.sms_recording_only",
                    detail="PARCELFLOW_SMS_PROVIDER=recording: texts are kept in memory, "
                           "none reaches a phone")
        sms = RecordingSmsProvider()
    if sms is not None and "sms" in wanted:
        channels["sms"] = SmsChannel(sms, messages)
    rules = Rules.load(settings.notification_rules_file)
    for rule in rules.rules:
        if rule.to == "receiver" and not messages.has(rule.template):
            raise ValueError(f"rule {rule.name!r}: no template {rule.template!r}")
    datastore = service.factory.datastore  # type: ignore[attr-defined]
    return Notifier(service, rules, channels, NotificationLedger(datastore),
                    webhooks=settings.merchant_webhooks,
                    max_attempts=settings.notify_max_attempts,
                    retry_seconds=settings.notify_retry_seconds,
                    concurrency=settings.notify_concurrency)


def build_notify_worker(service: ParcelService, settings: Settings, *,
                        sms: SmsProvider | None = None,
                        client_id: str = "parcelflow-notify"
                        ) -> KafkaNotifyWorker | StoreNotifyWorker | ShardedStoreNotifyWorker:
    notifier = build_notifier(service, settings, sms=sms)
    if not settings.kafka_bootstrap_servers:
        positions = PositionStore(notifier.ledger.datastore)
        name = worker_name(settings)
        shards = getattr(service, "shards", None)
        if shards is None:
            return StoreNotifyWorker(notifier, positions,
                                     LogFollower(service.recorder, batch_size=500), name=name)
        return ShardedStoreNotifyWorker([  # log_names: "parcels", "parcels@<shard>", ...
            StoreNotifyWorker(notifier, positions, LogFollower(shard.recorder, batch_size=500),
                              name=name + log_name.removeprefix(service.name))
            for shard, log_name in zip(shards, service.log_names, strict=True)])
    kafka.ensure_topics(settings, [settings.kafka_events_topic,
                                   settings.kafka_notifications_dlq_topic])
    group = settings.kafka_notify_group + worker_name(settings).removeprefix("notify")
    consumer = kafka.consumer(settings, [settings.kafka_events_topic], group_id=group,
                              client_id=client_id, max_poll_records=500)
    producer = kafka.producer(settings, client_id=f"{client_id}-dlq")
    batches = BatchConsumer("notify", consumer, producer,
                            dlq_topic=settings.kafka_notifications_dlq_topic, max_records=500,
                            send_timeout=settings.kafka_send_timeout,
                            transient=(ChannelUnavailable,))  # the mail server away
    return KafkaNotifyWorker(notifier, batches)
