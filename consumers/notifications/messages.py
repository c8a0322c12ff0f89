"""Customer messages from templates.toml (Jinja2), in the receiver's language, and the
merchants' webhook payloads."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from importlib.resources import files
from typing import Any

import jinja2
import orjson
from parcelflow.consumers.notifications.facts import EventFacts

FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    sms: str


def local_time(moment: datetime | None, language: str, zone: tzinfo) -> str:
    """A time as the customer reads it: in the network's zone (`Network.zone`)."""
    if moment is None:
        return ""
    at = moment.astimezone(zone)
    if language.startswith("zh"):
        return f"{at.month}月{at.day}日 {at:%H:%M}"
    return f"{at:%a} {at.day} {at:%b} {at:%H:%M}"


class Messages:
    def __init__(self, *, tracking_url: str, zone: tzinfo, text: str | None = None,
                 survey_link: Callable[[str, datetime], str] | None = None):
        source = text if text is not None else \
            (files("parcelflow.consumers.notifications") / "templates.toml").read_text("utf-8")
        data = tomllib.loads(source)
        self.words: dict[str, dict[str, dict[str, str]]] = data.pop("words", {})
        self.tracking_url = tracking_url
        # (tracking number, delivered at) -> the signed satisfaction survey link
        self.survey_link = survey_link
        self.zone = zone  # times in messages are local to the network
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                 trim_blocks=False, lstrip_blocks=True)
        self.templates: dict[tuple[str, str], dict[str, jinja2.Template]] = {
            (name, language): {part: env.from_string(text) for part, text in parts.items()}
            for name, languages in data.items() for language, parts in languages.items()
        }

    def language(self, name: str, wanted: str) -> str:
        """The receiver's language if the template has it, else its base language, else English."""
        for candidate in (wanted, wanted.split("-")[0]):
            if (name, candidate) in self.templates:
                return candidate
        for (template, language) in self.templates:
            if template == name and language.split("-")[0] == wanted.split("-")[0]:
                return language
        return FALLBACK_LANGUAGE

    def has(self, name: str) -> bool:
        return any(template == name for template, _ in self.templates)

    def render(self, name: str, facts: EventFacts, *, receiver_name: str) -> Message:
        language = self.language(name, facts.language)
        parts = self.templates[(name, language)]
        values = self._values(facts, language, receiver_name)
        return Message(*(parts[p].render(values).strip() for p in ("subject", "body", "sms")))

    def _values(self, facts: EventFacts, language: str, receiver_name: str) -> dict[str, Any]:
        words = self.words.get(language, {})
        why = facts.attempt_reason or facts.exception_code or ""
        place = facts.place
        zh = language.startswith("zh")
        return {
            "tracking_no": facts.tracking_no,
            "name": receiver_name,
            "place": (place.name_zh if zh else place.name_en) if place else "",
            "city": (place.city_zh if zh else place.city_en) if place else "",
            "eta": local_time(facts.eta, language, self.zone),
            # the predicted range (empty when there is none)
            "eta_likely": local_time(facts.predicted.likely if facts.predicted else None,
                                     language, self.zone),
            "eta_earliest": local_time(facts.predicted.earliest if facts.predicted else None,
                                       language, self.zone),
            "eta_latest": local_time(facts.predicted.latest if facts.predicted else None,
                                     language, self.zone),
            "promised_by": local_time(facts.promised_by, language, self.zone),
            "occurred_at": local_time(facts.occurred_at, language, self.zone),
            "reason": words.get("reason", {}).get(why, why.replace("_", " ")),
            "next": words.get("next", {}).get(why) or words.get("next", {}).get("default", ""),
            "attempts": facts.failed_attempts,
            "pickup_code": facts.pickup_code or "",
            "note": facts.note or "",
            "tracking_url": self.tracking_url.format(tracking_no=facts.tracking_no),
            "survey_url": self.survey_link(facts.tracking_no, facts.occurred_at)
            if self.survey_link is not None and facts.status == "delivered" else "",
        }


def webhook_payload(event_type: str, facts: EventFacts) -> bytes:
    """The Standard Webhooks payload shape: type, timestamp, data. No personal data."""
    place = facts.place
    return orjson.dumps({
        "type": event_type,
        "timestamp": facts.occurred_at.isoformat(),
        "data": {
            "event_id": facts.ref.event_id,
            "tracking_no": facts.tracking_no,
            "merchant_id": facts.merchant_id,
            "status": facts.status,
            "previous_status": facts.previous_status,
            "occurred_at": facts.occurred_at.isoformat(),
            "location": {"facility": place.code, "city": place.city_en} if place else None,
            "eta": facts.eta.isoformat() if facts.eta else None,
            "promised_by": facts.promised_by.isoformat() if facts.promised_by else None,
            "attempt_reason": facts.attempt_reason,
        },
    })
