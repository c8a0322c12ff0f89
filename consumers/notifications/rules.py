"""The notification rules (rules.toml, or `PARCELFLOW_NOTIFICATION_RULES_FILE`): loaded,
checked, and matched against an event's facts."""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from parcelflow.consumers.notifications.facts import EventFacts

from parcelflow.domain.transit_times import PAST_PROMISE, PROMISE_MISSED
from parcelflow.domain.vocabulary import ExceptionCode, Status

RECIPIENTS = {"receiver": frozenset({"email", "sms"}), "merchant": frozenset({"webhook"})}
_KEYS = {"name", "on", "status", "to", "channels", "template", "customer_facing", "codes",
         "unless_caused_by", "change"}
ETA_CHANGES = frozenset({PAST_PROMISE, PROMISE_MISSED})


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    name: str
    on: str  # "status" | "exception" | "eta"
    to: str  # "receiver" | "merchant"
    channels: tuple[str, ...]
    template: str
    statuses: frozenset[str] | None = None  # None: any status change
    customer_facing: bool | None = None
    codes: frozenset[str] | None = None
    unless_caused_by: frozenset[str] = frozenset()
    change: str | None = None  # on "eta": past_promise | promise_missed

    @property
    def kind(self) -> str:
        """The ledger's kind of message (see ledger.py). Status and exception rules
        share the event's one message, so a failed attempt is not told twice; the
        prediction's news is a message of its own beside it, once per event too."""
        return "eta" if self.on == "eta" else ""

    def matches(self, facts: EventFacts) -> bool:
        if self.on == "eta":
            return facts.eta_change is not None and facts.eta_change == self.change
        if self.on == "status":
            return facts.status_changed and (self.statuses is None
                                              or facts.status in self.statuses)
        if facts.exception_code is None:
            return False
        if self.customer_facing is not None and facts.customer_facing != self.customer_facing:
            return False
        if self.codes is not None and facts.exception_code not in self.codes:
            return False
        return facts.caused_by not in self.unless_caused_by


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]

    def decide(self, facts: EventFacts) -> list[tuple[Rule, str]]:
        """(rule, channel) for every message this event calls for."""
        return [(rule, channel) for rule in self.rules if rule.matches(facts)
                for channel in rule.channels]

    def _on(self, channels: Collection[str]) -> list[Rule]:
        return [r for r in self.rules if set(r.channels) & set(channels)]

    def tell_receivers(self, channels: Collection[str]) -> bool:
        """Whether any rule sends a receiver's message on these channels (its text uses
        the next step, the scanner's note, a pickup code, the predicted range)."""
        return any(r.to == "receiver" for r in self._on(channels))

    def use_predictions(self, channels: Collection[str]) -> bool:
        """Whether any rule on these channels needs the delivery prediction: an eta
        rule, or a receiver's message (its text may show the predicted range)."""
        return any(r.on == "eta" or r.to == "receiver" for r in self._on(channels))

    @classmethod
    def load(cls, path: Path | None = None) -> Rules:
        text = path.read_text("utf-8") if path else \
            (files("parcelflow.consumers.notifications") / "rules.toml").read_text("utf-8")
        where = str(path or "rules.toml")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise RuleError(f"{where}: {e}") from e
        return cls(tuple(_rule(raw, f"{where}, rule {i + 1}")
                         for i, raw in enumerate(data.get("rule", []))))


def _rule(raw: dict[str, object], where: str) -> Rule:
    unknown = set(raw) - _KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        name, on, to, template = (str(raw[k]) for k in ("name", "on", "to", "template"))
        channels = tuple(str(c) for c in raw["channels"])  # type: ignore[attr-defined]
    except KeyError as e:
        raise RuleError(f"{where}: missing {e.args[0]!r}") from None
    if on not in ("status", "exception", "eta"):
        raise RuleError(f"{where}: on must be 'status', 'exception' or 'eta', not {on!r}")
    change = str(raw["change"]) if "change" in raw else None
    if on == "eta" and change not in ETA_CHANGES:
        raise RuleError(f"{where}: an eta rule's change must be one of "
                        f"{', '.join(sorted(ETA_CHANGES))}")
    if to not in RECIPIENTS:
        raise RuleError(f"{where}: to must be one of {', '.join(RECIPIENTS)}, not {to!r}")
    wrong = set(channels) - RECIPIENTS[to]
    if not channels or wrong:
        raise RuleError(f"{where}: a {to} is reached by {', '.join(sorted(RECIPIENTS[to]))}"
                        + (f", not {', '.join(sorted(wrong))}" if wrong else ""))
    statuses = None
    if on == "status":
        value = raw.get("status", "*")
        if value != "*":
            statuses = frozenset(str(s) for s in value)  # type: ignore[union-attr]
            bad = statuses - {str(s) for s in Status}
            if bad:
                raise RuleError(f"{where}: unknown status(es) {', '.join(sorted(bad))}")
    codes = frozenset(str(c) for c in raw["codes"]) if "codes" in raw else None  # type: ignore[union-attr]
    if codes and codes - {str(c) for c in ExceptionCode}:
        raise RuleError(f"{where}: unknown exception code(s) "
                        f"{', '.join(sorted(codes - {str(c) for c in ExceptionCode}))}")
    facing = raw.get("customer_facing")
    return Rule(name=name, on=on, to=to, channels=channels, template=template,
                statuses=statuses, customer_facing=None if facing is None else bool(facing),
                codes=codes, change=change, unless_caused_by=frozenset(
                    str(s) for s in raw.get("unless_caused_by", ())))  # type: ignore[union-attr]
