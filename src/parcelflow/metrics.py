"""Prometheus metrics: one registry, every name in one place.

Labels never carry personal data or tracking numbers (unbounded, and identifying):
only reasons, codes, channels and projection names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SCANS_ACCEPTED = Counter(
    "parcelflow_scans_accepted_total", "Scans recorded", registry=REGISTRY)
SCANS_DUPLICATE = Counter(
    "parcelflow_scans_duplicate_total", "Scans already recorded (retries)", registry=REGISTRY)
SCANS_REJECTED = Counter(
    "parcelflow_scans_rejected_total", "Scans refused, by reason kind", ["reason"],
    registry=REGISTRY)
INGEST_SECONDS = Histogram(
    "parcelflow_ingest_batch_seconds", "Time to validate and store one batch of scans",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY)
PROJECTION_LAG_EVENTS = Gauge(
    "parcelflow_projection_lag_events", "Events in the log not yet in the read model",
    ["projection"], registry=REGISTRY)
PROJECTION_LAG_SECONDS = Gauge(
    "parcelflow_projection_lag_seconds", "Age of the oldest event not yet in the read model",
    ["projection"], registry=REGISTRY)
RELAY_LAG_EVENTS = Gauge(
    "parcelflow_relay_lag_events", "Events in the log not yet published to Kafka",
    registry=REGISTRY)
NOTIFICATIONS_SENT = Counter(
    "parcelflow_notifications_sent_total", "Notifications delivered, by channel", ["channel"],
    registry=REGISTRY)
NOTIFICATIONS_FAILED = Counter(
    "parcelflow_notifications_failed_total",
    "Notifications given up on (dead-lettered), by channel", ["channel"], registry=REGISTRY)
NOTIFICATION_DELAY_SECONDS = Histogram(
    "parcelflow_notification_delay_seconds",
    "From an event being recorded in the store to its notification being sent",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=REGISTRY)
KAFKA_DEAD_LETTERS = Counter(
    "parcelflow_kafka_dead_letters_total", "Messages sent to a dead-letter topic, by worker",
    ["worker"], registry=REGISTRY)
EXCEPTIONS_OPEN = Gauge(
    "parcelflow_exceptions_open", "Open exceptions, by code", ["code"], registry=REGISTRY)

# The HTTP API. `route` is the route's template (/v1/parcels/{tracking_no}), never the
# path a client sent.
HTTP_REQUESTS = Counter(
    "parcelflow_http_requests_total", "HTTP requests answered, by route, method and status",
    ["route", "method", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram(
    "parcelflow_http_request_seconds", "Time to answer an HTTP request, by route", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY)
RATE_LIMITED = Counter(
    "parcelflow_rate_limited_total", "Requests refused by a rate limit, by limit", ["limit"],
    registry=REGISTRY)
RATE_LIMIT_STORE_ERRORS = Counter(
    "parcelflow_rate_limit_store_errors_total",
    "Rate-limit checks let through because the shared store did not answer", registry=REGISTRY)
AUTH_REFUSED = Counter(
    "parcelflow_auth_refused_total", "Requests refused by access control, by reason", ["reason"],
    registry=REGISTRY)


def reason_kind(reason: str) -> str:
    """A bounded label for a rejection reason: its first field name, not its text."""
    head = reason.split(":", 1)[0].split(" ", 1)[0].strip("'")
    if reason.startswith("unknown field"):
        return "unknown_field"
    if "ahead of the server clock" in reason:
        return "clock_ahead"
    if reason.startswith("occurred_at is") and "old" in reason:
        return "too_old"
    return head if head.isidentifier() and len(head) <= 32 else "other"
DETECTOR_PASS_SECONDS = Histogram(
    "parcelflow_detector_pass_seconds", "Time of one detector pass over the read models",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
DETECTOR_RAISED = Counter(
    "parcelflow_detector_raised_total", "Exceptions raised by the detectors, by code",
    ["code"], registry=REGISTRY)
SLA_BREACHES = Counter(
    "parcelflow_sla_breaches_total", "SLA clocks that ran out (each escalated), by clock",
    ["clock"], registry=REGISTRY)
