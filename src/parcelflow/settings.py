"""All configuration, in one object, from `PARCELFLOW_*` environment variables."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parcelflow.domain.business_hours import WEEKDAYS, Span, TeamCalendar, TimeBasis, office_hours
from parcelflow.domain.errors import DomainError
from parcelflow.domain.policy import DEFAULT_CALENDAR, Clock, ClockKind, Policy
from parcelflow.domain.vocabulary import CustomerTier, ServiceLevel, Severity, Status
from parcelflow.wire.tracking_numbers import DEFAULT_FORMATS, TrackingNumbers

DEFAULT_DATABASE_URL = "sqlite:///parcelflow.db"


class ClockSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response: timedelta | None = None
    resolution: timedelta | None = None


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class CalendarSettings(BaseModel):
    """A team's working calendar: its time zone, working hours per weekday (a weekday
    not given has none; nothing given: Monday to Friday 09:00-18:00), China's public
    holidays and adjusted working days (`holidays: "cn"`, from the `chinesecalendar`
    package) or none, and dates of its own (holidays, adjusted working days)."""

    model_config = ConfigDict(extra="forbid")
    zone: str = "Asia/Shanghai"
    hours: dict[Weekday, list[str]] | None = None
    holidays: Literal["cn", "none"] = "cn"
    extra_holidays: list[date] = []
    extra_workdays: list[date] = []
    workday_hours: list[str] = Field(
        [], description="hours on an adjusted working day (default: the first working "
        "weekday's)")

    def build(self, name: str) -> TeamCalendar:
        from parcelflow.adapters.public_holidays import china

        holidays, workdays = china() if self.holidays == "cn" else (frozenset(), frozenset())
        try:
            weekly = office_hours("09:00-18:00") if self.hours is None else {
                day: tuple(Span.parse(s) for s in self.hours.get(day, [])) for day in WEEKDAYS}
            return TeamCalendar(
                name, self.zone, weekly,
                holidays=(holidays | set(self.extra_holidays)) - set(self.extra_workdays),
                workdays=(workdays | set(self.extra_workdays)) - set(self.extra_holidays),
                workday_hours=tuple(Span.parse(s) for s in self.workday_hours))
        except DomainError as e:
            # Named by the calendar, never repeating what was given.
            raise ValueError(f"policy.calendars.{name}: {e}") from None


class PolicySettings(BaseModel):
    """Overrides of the service-level policy (`parcelflow.domain.policy.Policy`); what is
    not given keeps its default. Set as JSON in PARCELFLOW_POLICY, or one field at a time
    as PARCELFLOW_POLICY__FIELD (durations in ISO 8601, e.g. PT48H, P7D)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    clocks: dict[CustomerTier, ClockSettings] = {}
    internal_resolution: dict[Severity, timedelta] = {}
    complaint_resolution: timedelta | None = None
    stall_after: dict[ServiceLevel, timedelta] = {}
    stall_after_status: dict[Status, timedelta] = {}
    complete_delay: timedelta | None = None
    pickup_hold: timedelta | None = None
    delayed_eta_fallback: timedelta | None = None
    escalation_team: str | None = None
    uninsured_postage_multiple: Decimal | None = Field(None, ge=0)
    basis: dict[ClockKind, TimeBasis] = Field(
        {}, description="per clock, calendar or business time (first_response, resolution, "
        "internal_resolution, complaint_resolution, follow_up)")
    calendars: dict[str, CalendarSettings] = Field(
        {}, description="working calendars by team; `default` for every team without one")
    follow_up_within: timedelta | None = None
    follow_up_team: str | None = None
    follow_up_attempts: int | None = Field(None, ge=1)
    low_rating_at_most: int | None = Field(None, ge=0, le=5)
    complaint_follow_up_within: timedelta | None = None

    @field_validator("calendars")
    @classmethod
    def _calendars_build(cls, given: dict[str, CalendarSettings]) -> dict[str, CalendarSettings]:
        for name, calendar in given.items():
            calendar.build(name)  # refused here, at start-up, naming the calendar
        return given

    def build(self) -> Policy:
        base = Policy()
        changes: dict[str, Any] = {}
        if self.clocks:
            clocks = dict(base.clocks)
            for tier, given in self.clocks.items():
                clocks[tier] = Clock(given.first_response or clocks[tier].first_response,
                                     given.resolution or clocks[tier].resolution)
            changes["clocks"] = clocks
        for name in ("internal_resolution", "stall_after", "stall_after_status"):
            given = getattr(self, name)
            if given:
                changes[name] = {**getattr(base, name), **given}
        for name in ("complaint_resolution", "complete_delay", "pickup_hold",
                     "delayed_eta_fallback", "escalation_team", "uninsured_postage_multiple",
                     "follow_up_within", "follow_up_team", "follow_up_attempts",
                     "low_rating_at_most", "complaint_follow_up_within"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        if self.basis:
            changes["basis"] = {**base.basis, **self.basis}
        calendars = {DEFAULT_CALENDAR: CalendarSettings()} | self.calendars
        changes["calendars"] = {name: c.build(name) for name, c in calendars.items()}
        return replace(base, **changes)


class WebhookEndpoint(BaseModel):
    """Where a merchant hears about its parcels, and the secret the requests are signed with
    (Standard Webhooks: `whsec_` + base64; the secret itself is never sent)."""

    url: str
    secret: SecretStr


class NotifyChannel(StrEnum):
    """The channels a notification worker can send on."""

    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARCELFLOW_", env_file=".env", extra="ignore",
                                      env_nested_delimiter="__")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path (the embedded default) or postgresql://user@host:port/db",
    )
    shards: str | None = Field(
        None, description="the event store's shards: a JSON list of database URLs (parcels "
        "spread over them by tracking number), or one URL; absent: PARCELFLOW_DATABASE_URL "
        "alone (see application/sharding.py)")
    database_pool_size: int | None = Field(
        None, ge=1, le=100,
        description="PostgreSQL connections each process keeps open (default: what the "
        "process needs: for `project --follow` one per read model it follows, one for "
        "writes and one listening for new events; 4 elsewhere)")
    database_pool_overflow: int | None = Field(
        None, ge=0, le=100,
        description="connections a process may open beyond that under load, closed when "
        "idle (default: none for `project --follow`, 10 elsewhere)")
    database_application_name: str = Field(
        "parcelflow", min_length=1, max_length=63, pattern=r"^[ -~]+$",
        description="application_name of every PostgreSQL connection (pg_stat_activity)")
    kafka_bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; absent: consumers follow the store directly"
    )
    smtp_url: str | None = Field(None, description="smtp://host:port for customer emails")
    network_file: Path | None = Field(
        None, description="facility registry (JSON); absent: the bundled demo network"
    )
    pii_master_key: SecretStr | None = Field(
        None,
        description="base64 32-byte key that wraps the per-parcel data keys; "
        "absent: data keys are stored unwrapped (development only)",
    )
    pii_master_key_previous: SecretStr | None = Field(
        None,
        description="while rotating: the master key(s) being replaced (base64, comma-"
        "separated); keys wrapped under them are still read (`parcelflow keys rotate-master` "
        "rewraps them under PARCELFLOW_PII_MASTER_KEY)",
    )
    development: bool = Field(
        False, description="a development run: long-running commands start on PostgreSQL "
        "without the master keys (`parcelflow dev`, the demo and the tests set it)")
    scan_max_future: timedelta = Field(
        timedelta(minutes=5), description="how far ahead of the server clock a scan may be"
    )
    scan_max_age: timedelta = Field(timedelta(days=30), description="how old a scan may be")
    max_batch: int = Field(1000, ge=1, le=10_000, description="items per ingest batch")
    tracking_number_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS), min_length=1,
        description='accepted tracking numbers: a JSON list of regular expressions (matched '
        'against the whole number) and built-in names ("s10": UPU S10 with its check digit)')
    ingest_cache_size: int = Field(
        100_000, ge=0, description="parcels an ingest process keeps in memory between batches"
    )
    projection_cache_size: int = Field(
        20_000, ge=1, description="parcels each projection keeps in memory (about 12 KiB "
        "each; a parcel not kept is loaded from the store, one query per batch)")
    policy: PolicySettings = Field(
        default_factory=PolicySettings,
        description="service-level policy overrides (JSON; see PolicySettings)")

    # ---- Kafka (kafka-python) ----------------------------------------------------------
    kafka_scans_topic: str = "parcelflow.scans.v1"
    kafka_scans_dlq_topic: str = "parcelflow.scans.dlq.v1"
    kafka_events_topic: str = "parcelflow.parcel-events.v1"
    kafka_notifications_dlq_topic: str = "parcelflow.notifications.dlq.v1"
    kafka_partitions: int = Field(
        12, ge=1, description="partitions of the topics the workers create when missing")
    kafka_ingest_group: str = "parcelflow-ingest"
    kafka_notify_group: str = "parcelflow-notify"
    kafka_idempotence: bool = Field(
        True,
        description="idempotent producers (needs a broker that answers InitProducerId v0/v1, "
        "as Apache Kafka does; the Tansu test broker does not: tests turn it off)",
    )
    kafka_session_timeout_ms: int = Field(10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(3_000, ge=100)
    kafka_fetch_max_bytes: int = Field(
        512 * 1024, description="per fetch; kept small so a poll stays one ingest batch")
    kafka_send_timeout: float = Field(
        30.0, description="seconds to wait for the broker to acknowledge a batch before retrying")

    # ---- relay and notifications ---------------------------------------------------------
    relay_batch_size: int = Field(1000, ge=1, le=50_000)
    smtp_from: str = Field("parcelflow <noreply@parcelflow.local>",
                           description="From: of customer emails")
    merchant_webhooks: dict[str, WebhookEndpoint] = Field(
        default_factory=dict,
        description='JSON: {"merchant_id": {"url": "https://...", "secret": "whsec_..."}}')
    sms_provider: Literal["none", "recording"] = Field(
        "none", description="'recording' keeps texts in memory instead of sending (development)")
    notification_rules_file: Path | None = Field(
        None, description="who is told what (TOML); absent: the bundled rules")
    notify_max_attempts: int = Field(5, ge=1, description="tries per notification")
    notify_retry_seconds: float = Field(
        0.5, gt=0, description="first wait between tries; doubles each time, at most 30 s")
    notify_channels: list[NotifyChannel] = Field(
        default_factory=lambda: list(NotifyChannel),
        description="channels this notification worker sends on (run one worker per channel "
        "group so a slow merchant endpoint never holds up customer email)")
    notify_concurrency: int = Field(
        32, ge=1, le=256, description="parcels whose messages are sent at the same time")
    tracking_url: str = Field("https://track.parcelflow.local/track/{tracking_no}",
                              description="link in customer messages: the tracking page "
                              "(parcelflow serves it at /track/{tracking_no})")
    survey_secret: SecretStr | None = Field(
        None, description="signs the satisfaction survey links; absent: no surveys are sent "
        "and the survey API finds none")
    survey_url: str | None = Field(
        None, description="the survey link in customer messages, with {token}; absent: "
        "parcelflow's own survey page at http://API_HOST:API_PORT/survey/{token} (set it to "
        "where customers reach `parcelflow serve`, path /survey/{token})")
    survey_valid_for: timedelta = Field(timedelta(days=14),
                                        description="how long a survey link can be answered")

    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # ---- the HTTP API (`parcelflow serve`) ----
    api_host: str = Field("127.0.0.1", description="address `parcelflow serve` listens on")
    api_port: int = Field(8000, ge=1, le=65535, description="port `parcelflow serve` listens on")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="port on which a worker (ingest-worker, relay, "
        "notify, project --follow, detect --every) serves its Prometheus metrics; unset: none")
    metrics_host: str = Field("0.0.0.0", description="address the workers' metrics listen on")
    api_workers: int = Field(1, ge=1, le=64, description="API worker processes")
    api_trusted_proxies: str = Field(
        "127.0.0.1",
        description="addresses whose X-Forwarded-For is believed (comma-separated, or *); "
        "the client address is what the per-address rate limit counts",
    )
    api_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="largest request body accepted (413 above it)"
    )
    api_lookup_limit_per_address: str = Field(
        "120/minute", description="public lookups per client address (limits syntax: N/period)"
    )
    api_lookup_limit_per_parcel: str = Field(
        "60/minute", description="public lookups per tracking number"
    )
    api_proof_failure_limit: str = Field(
        "10/hour",
        description="lookups with a phone_last4 that did not match, per tracking number, "
        "before proof attempts for it are refused (stops guessing the 10,000 combinations)",
    )
    api_proof_failure_limit_per_address: str = Field(
        "30/hour", description="phone_last4 answers that did not match, per client address "
        "over all parcels, before that address's proofs are refused")
    api_staff_token_lifetime: timedelta = Field(
        timedelta(hours=12), description="how long a staff token is valid (scanner and "
        "manifests keys do not expire; revoke or rotate them)")
    console_session_idle: timedelta = Field(
        timedelta(minutes=30), description="a staff console session ends after this long "
        "without a request (and with its staff token's expiry, whichever comes first)")
    api_ops_limit_per_address: str = Field(
        "120/minute", description="/metrics, /readyz and /openapi.json requests per client "
        "address")
    api_credential_cache_seconds: float = Field(
        2.0, ge=0, le=60, description="how long a verified API key or staff token is reused "
        "without reading it again: a revoked or rotated-out key is refused at most this long "
        "after the change (0: read on every request)")
    api_ops_cache_seconds: float = Field(
        1.0, ge=0, le=60, description="how long /metrics and /readyz reuse what they read "
        "from the database")
    api_max_header_bytes: int = Field(
        16_384, ge=1024, description="largest request head (request line and headers); "
        "larger ones are refused with 431")
    api_scan_group_wait: timedelta = Field(
        timedelta(milliseconds=2), ge=timedelta(0), le=timedelta(milliseconds=50),
        description="how long a POST /v1/scans batch may wait for other clients' batches to "
        "be written with it, when the last write held several (api/group_commit.py; 0: never)")
    api_body_timeout: timedelta = Field(
        timedelta(seconds=30), description="how long a request body may take to arrive "
        "(408 after it)")
    rate_limit_storage: str = Field(
        "memory://", description="where rate limits are counted: memory:// (each API process "
        "on its own) or a shared store for the limits library, e.g. redis://host:6379")
    rate_limit_prefix: str = Field(
        "parcelflow", description="prefix of the rate-limit keys in a shared store")
    api_signature_tolerance: timedelta = Field(
        timedelta(minutes=5), description="how far a signed request's timestamp may be off"
    )
    api_idempotency_ttl: timedelta = Field(
        timedelta(hours=24), description="how long an Idempotency-Key's answer is kept"
    )
    api_ready_max_lag: timedelta = Field(
        timedelta(seconds=60),
        description="/readyz fails when a read model is further behind the log than this",
    )
    api_ready_projections: list[str] = Field(
        ["tracking", "exceptions"], description="read models /readyz checks (JSON list)"
    )
    # ---- web pages ----
    web_secret_key: SecretStr | None = Field(
        None, description="signs the web pages' cookies (the tracking page's remembered "
        "phone proof); unset: a random key per process, so set it when serving with more "
        "than one worker or replica")
    web_proof_lifetime: timedelta = Field(
        timedelta(minutes=15), description="how long the tracking page remembers a phone "
        "proof (never beyond the browser session)")
    # ---- audit: checkpoints and EPCIS ----
    checkpoint_key: SecretStr | None = Field(
        None, description="signed-note Ed25519 private key (PRIVATE+KEY+name+id+key) that "
        "signs checkpoints; its name is the checkpoints' origin (`parcelflow keys "
        "checkpoint-create` makes one)")
    checkpoint_public_key: str | None = Field(
        None, description="verifier key (name+id+key) that `verify` checks checkpoints with; "
        "absent: derived from PARCELFLOW_CHECKPOINT_KEY")
    checkpoint_max_merge_delay: timedelta = Field(
        timedelta(minutes=5), description="longest an honest write takes to commit: an event "
        "recorded this long before a checkpoint that does not contain it was forged")
    kafka_checkpoints_topic: str = "parcelflow.checkpoints.v1"
    epcis_uri_base: str = Field(
        "https://id.parcelflow.local", pattern=r"^https?://[^/?#\s]+(/[^?#\s]*[^/?#\s])?$",
        description="the carrier's own URIs in EPCIS exports: {base}/parcel/{tracking_no}, "
        "{base}/facility/{code} (facilities without a GLN), {base}/voc/ (its vocabulary)")
    gs1_company_prefix: str | None = Field(
        None, pattern=r"^[0-9]{6,12}$", description="GS1 company prefix: EPCIS exports name "
        "parcels by SSCC (extension digit, prefix, the tracking number's rightmost digits)")
    gs1_extension_digit: str = Field("0", pattern=r"^[0-9]$",
                                     description="the SSCCs' extension digit")
    credentials_master_key: SecretStr | None = Field(
        None,
        description="base64 32-byte key that wraps the API keys' request-signing secrets; "
        "absent: stored unwrapped (development only)",
    )

    @field_validator("tracking_number_patterns")
    @classmethod
    def _formats_compile(cls, value: list[str]) -> list[str]:
        TrackingNumbers(value)  # a pattern that does not compile fails at start-up
        return value

    @model_validator(mode="after")
    def _first_shard_is_the_database(self) -> Settings:
        # A malformed list fails at start-up, not at the first write. The first shard
        # is `database_url` for everything that is not per parcel (read models, leader
        # locks, credentials), so one URL in PARCELFLOW_SHARDS is exactly today's setup.
        if self.shards:
            self.database_url = _shard_list(self.shards)[0]
        return self

    def survey_page(self) -> str:
        """The survey link, with {token}: the setting, or parcelflow's own page."""
        return self.survey_url or f"http://{self.api_host}:{self.api_port}/survey/{{token}}"

    def tracking_numbers(self) -> TrackingNumbers:
        return TrackingNumbers(self.tracking_number_patterns)

    def shard_urls(self) -> list[str]:
        """The shards' database URLs, the first holding the read side; one: not sharded."""
        return _shard_list(self.shards) if self.shards else [self.database_url]


def _shard_list(value: str) -> list[str]:
    text = value.strip()
    if not text.startswith("["):
        return [text]
    try:
        urls = json.loads(text)
    except ValueError:
        raise ValueError("shards: not a JSON list of database URLs") from None
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise ValueError("shards: a JSON list of database URLs, or one URL")
    if len(set(urls)) != len(urls):
        raise ValueError("shards: a database URL is listed twice")
    return urls


@lru_cache
def get_settings() -> Settings:
    return Settings()
