"""The tracking page's content in a customer's words, from what the public lookup answers
(`parcelflow.api.lookup`) and, after the phone proof, the parcel's situation.

Only what the lookup may show reaches the page: without proof the coarse answer (status,
city, ETA, milestones) plus the route drawn by city; with proof the full answer (still
masked) and the situation (codes, places, times). Words come from the catalogue in the
page's language; the reasons and next steps of problems are the customer notifications'
own words (one home for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parcelflow.application.situation import Situation
from parcelflow.domain.network import Network
from parcelflow.domain.vocabulary import FacilityKind, Status
from parcelflow.web.i18n import Catalogue

# Where on its route a parcel is, by the kind of place it was last scanned at.
_AT_END = {Status.DELIVERED, Status.AWAITING_PICKUP}


@dataclass(frozen=True)
class Stop:
    label: str
    done: bool
    current: bool


@dataclass(frozen=True)
class Route:
    stops: tuple[Stop, ...]
    position: float  # 0 .. len(stops) - 1: how far along the line the parcel is
    label: str  # the route in words, for people who do not see the drawing

    def x(self, index: float, width: float = 560, margin: float = 50) -> float:
        span = max(len(self.stops) - 1, 1)
        return margin + index * (width - 2 * margin) / span

    def y(self, index: float, step: float = 64, margin: float = 28) -> float:
        return margin + index * step


@dataclass
class Words:
    """The words of one language: the page's catalogue and the notifications' reasons."""

    catalogue: Catalogue
    lang: str
    reasons: dict[str, str] = field(default_factory=dict)
    next_steps: dict[str, str] = field(default_factory=dict)

    def t(self, key: str, **values: Any) -> str:
        return self.catalogue.text(self.lang, key, **values)

    def reason(self, code: str) -> str:
        return self.reasons.get(code, code.replace("_", " "))

    def next(self, code: str) -> str:
        return self.next_steps.get(code) or self.next_steps.get("default", "")


def city_label(network: Network, city: str | None, lang: str) -> str:
    """A city (its code, or its English name as the view stores it) in the language."""
    if not city:
        return ""
    found = network.cities.get(city) or next(
        (c for c in network.cities.values() if c.name_en == city), None)
    if found is None:
        return city
    return found.name_zh if lang == "zh-CN" else found.name_en


def place_label(network: Network, facility: str | None, lang: str) -> str:
    found = network.facilities.get(facility or "")
    if found is None:
        return facility or ""
    return found.name_zh if lang == "zh-CN" else found.name_en


def route(row: dict[str, Any], network: Network, words: Words) -> Route | None:
    """Origin → its hub → any other hub the parcel passed → the destination's hub →
    destination, by city, and how far along it the parcel is."""
    origin, destination = row.get("origin"), row.get("destination")
    facilities = [e["facility"] for e in row["timeline"] if e.get("facility") and not e["voided"]]
    if not origin and facilities:
        origin = network.facilities[facilities[0]].city if facilities[0] in network.facilities \
            else None
    if not origin or not destination:
        return None
    middle: list[str] = []
    for code in facilities:
        found = network.facilities.get(code)
        if found and found.kind == FacilityKind.HUB and found.city not in (origin, destination) \
                and found.city not in middle:
            middle.append(found.city)
    hub = words.t("track.hub")
    joiner = "" if words.lang == "zh-CN" else " "
    labels = [city_label(network, origin, words.lang),
              *[city_label(network, c, words.lang) + joiner + hub
                for c in [origin, *middle, destination]],
              city_label(network, destination, words.lang)]
    position = 0.0
    for code in facilities:
        position = max(position, _progress(network, code, origin, middle, destination))
    if row["status"] in _AT_END:
        position = len(labels) - 1
    reached = int(position)
    stops = tuple(Stop(label, i <= position, i == reached) for i, label in enumerate(labels))
    arrow = " → "
    now = labels[reached]
    return Route(stops, position, words.t("track.route_label", stops=arrow.join(labels), now=now))


def _progress(network: Network, code: str, origin: str, middle: list[str],
              destination: str) -> float:
    found = network.facilities.get(code)
    if found is None:
        return 0.0
    last = len(middle) + 3  # origin, origin hub, middle hubs, destination hub, destination
    if found.kind == FacilityKind.HUB:
        if found.city == origin:
            return 1.0
        if found.city == destination:
            return float(last - 1)
        return 2.0 + middle.index(found.city) if found.city in middle else 1.0
    if found.city == destination and found.kind in (FacilityKind.STATION,
                                                    FacilityKind.PICKUP_POINT):
        return last - 0.5  # on the last leg, not yet with the receiver
    return 0.0


def _status_words(words: Words, status: str) -> str:
    return words.t(f"track.status.{status}")


def milestones(answer: dict[str, Any], network: Network, words: Words) -> list[dict[str, str]]:
    """The coarse timeline, newest first."""
    return [{"at": e["occurred_at"], "what": _status_words(words, e["status"]),
             "where": city_label(network, e["city"], words.lang)}
            for e in reversed(answer["timeline"])]


def timeline(answer: dict[str, Any], network: Network, words: Words) -> list[dict[str, Any]]:
    """The full timeline (masked by the lookup), newest first, in the page's words."""
    lines = []
    for e in reversed(answer["timeline"]):
        key = f"track.event.{e['type']}"
        what = words.t(key) if words.catalogue.has(key) else e["type"].replace("_", " ")
        lines.append({"at": e["occurred_at"], "what": what,
                      "where": place_label(network, e["facility"], words.lang)
                      if e["facility"] else "",
                      "voided": e["voided"], "late": e["late"]})
    return lines


def story(answer: dict[str, Any], found: Situation, network: Network, words: Words,
          when: Any) -> list[dict[str, str]]:
    """What went wrong and what happens next, one notice each, in customer words."""
    notices: list[dict[str, str]] = []
    eta = when((answer.get("eta") or {}).get("likely"))
    if found.attempt_reason:
        text = words.t("track.attempt_failed", n=found.failed_attempts,
                       reason=words.reason(found.attempt_reason))
        steps = [words.next(found.attempt_reason)]
        if eta:
            steps.append(words.t("track.next_attempt", eta=eta))
        notices.append({"kind": "warn", "text": text, "next": " ".join(steps), "code": ""})
    if found.pickup_point:
        notices.append({
            "kind": "ok",
            "text": words.t("track.at_pickup",
                            place=place_label(network, found.pickup_point, words.lang)),
            "next": words.t("track.collect_by", when=when(found.collect_by)),
            "code": found.pickup_code or ""})
    for code in found.problems:
        if code == found.attempt_reason:
            continue
        steps = [words.next(code)]
        if code == "delayed" and eta:
            steps.insert(0, words.t("track.new_eta", eta=eta))
        notices.append({"kind": "bad" if code in ("damaged", "lost") else "warn",
                        "text": words.t("track.problem", reason=words.reason(code)),
                        "next": " ".join(s for s in steps if s), "code": ""})
    return notices


def complaints(found: Situation, words: Words, when: Any) -> list[dict[str, str]]:
    return [{"id": c.complaint_id, "category": words.t(f"track.categories.{c.category}"),
             "status": words.t(f"track.complaint_status.{c.status}"),
             "filed": words.t("track.complaint_filed", when=when(c.filed_at)),
             "due": (words.t("track.complaint_due", when=when(c.due)) if c.due
                     else words.t("track.complaint_waiting"))
             if c.status == "open" else
             words.t("track.complaint_closed", when=when(c.closed_at)),
             "open": c.status == "open"}
            for c in reversed(found.complaints)]


def next_step(answer: dict[str, Any], network: Network, words: Words) -> str | None:
    step = answer.get("next_expected")
    if not step or not step.get("activity"):
        return None
    key = f"track.event.{step['activity']}"
    if not words.catalogue.has(key):
        return None
    where = place_label(network, step.get("facility"), words.lang)
    return words.t(key) + (f" · {where}" if where else "")
