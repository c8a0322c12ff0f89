"""The notification rules and templates as data: checked when loaded, matched on an
event's facts, rendered in the receiver's language."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from parcelflow.consumers.notifications.facts import EventFacts, EventRef, Place
from parcelflow.consumers.notifications.messages import Messages, local_time
from parcelflow.consumers.notifications.rules import RuleError, Rules

CST = timezone(timedelta(hours=8))
SHANGHAI = ZoneInfo("Asia/Shanghai")
SZX_HUB = Place("SZX-HUB-01", "深圳转运中心", "Shenzhen Hub", "深圳", "Shenzhen")


def facts(**changes) -> EventFacts:
    base = EventFacts(
        ref=EventRef("p:5", uuid4(), 5), tracking_no="PF202611220000001",
        event="scan_recorded", occurred_at=datetime(2026, 11, 22, 9, 30, tzinfo=CST),
        status="in_transit", previous_status="at_facility", scan_type="departure",
        place=SZX_HUB, eta=datetime(2026, 11, 23, 20, 0, tzinfo=CST), promised_by=None,
        next_activity="arrival", language="zh-CN", merchant_id="shop-123",
        receiver_sealed="v1:x")
    return replace(base, **changes)


def decided(rules: Rules, f: EventFacts) -> list[tuple[str, str]]:
    return [(rule.name, channel) for rule, channel in rules.decide(f)]


def test_the_bundled_rules_say_who_is_told_what():
    rules = Rules.load()
    assert decided(rules, facts()) == [("merchant_status", "webhook")]
    assert decided(rules, facts(status="out_for_delivery")) == [
        ("out_for_delivery", "email"), ("out_for_delivery", "sms"), ("merchant_status", "webhook")]
    assert decided(rules, facts(status="delivered")) == [
        ("delivered", "email"), ("merchant_status", "webhook")]
    # no status change (a sort scan, a late upload): nobody is told
    assert decided(rules, facts(status="at_facility", previous_status="at_facility")) == []
    weather = facts(event="exception_raised", status="in_transit", previous_status="in_transit",
                    exception_code="weather", customer_facing=True, caused_by="exception")
    assert decided(rules, weather) == [("exception", "email"), ("exception", "sms")]
    assert decided(rules, replace(weather, customer_facing=False)) == []
    # a failed attempt's own exception: the delivery_failed message already said why
    assert decided(rules, replace(weather, exception_code="address_issue",
                                  caused_by="delivery_attempt")) == []


def test_a_worker_finds_only_the_facts_its_channels_rules_can_use(tmp_path: Path):
    rules = Rules.load()
    # Receivers' messages show the predicted range, and eta rules are theirs.
    assert rules.use_predictions(["email"]) and rules.tell_receivers(["sms"])
    assert rules.use_predictions(["email", "sms", "webhook"])
    # Merchants' webhooks are told status changes only: no prediction is of use.
    assert not rules.use_predictions(["webhook"]) and not rules.tell_receivers(["webhook"])
    assert not rules.use_predictions([])
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nname = "late"\non = "eta"\nchange = "past_promise"\n'
                    'to = "merchant"\nchannels = ["webhook"]\ntemplate = "parcel.late"\n')
    late = Rules.load(path)
    assert late.use_predictions(["webhook"]) and not late.tell_receivers(["webhook"])


def test_a_rules_file_with_a_mistake_is_refused_with_where_it_is(tmp_path: Path):
    def load(text: str) -> Rules:
        path = tmp_path / "rules.toml"
        path.write_text(text)
        return Rules.load(path)

    rule = '[[rule]]\nname = "x"\non = "status"\nto = "receiver"\ntemplate = "t"\n'
    with pytest.raises(RuleError, match="rule 1: a receiver is reached by email, sms, not webhook"):
        load(rule + 'channels = ["webhook"]\n')
    with pytest.raises(RuleError, match="unknown status.*shipped"):
        load(rule + 'channels = ["email"]\nstatus = ["shipped"]\n')
    with pytest.raises(RuleError, match="unknown key.*colour"):
        load(rule + 'channels = ["email"]\ncolour = "red"\n')
    with pytest.raises(RuleError, match="missing 'to'"):
        load('[[rule]]\nname = "x"\non = "status"\ntemplate = "t"\nchannels = ["email"]\n')
    only = load(rule + 'channels = ["email"]\nstatus = ["delivered"]\n')
    assert decided(only, facts(status="delivered")) == [("x", "email")]


def test_messages_are_written_in_the_receivers_language():
    messages = Messages(tracking_url="https://t.example/{tracking_no}", zone=SHANGHAI)
    weather = facts(event="exception_raised", exception_code="weather", customer_facing=True,
                    note="暴雨", status="in_transit", previous_status="in_transit")
    zh = messages.render("exception", weather, receiver_name="李华")
    assert zh.subject == "您的包裹 PF202611220000001 出现异常：恶劣天气影响运输"
    assert "李华，您好" in zh.body and "（暴雨）" in zh.body
    assert "包裹目前在深圳转运中心" in zh.body and "预计 11月23日 20:00 前送达" in zh.body
    assert "https://t.example/PF202611220000001" in zh.body
    en = messages.render("exception", replace(weather, language="en"), receiver_name="Amy")
    assert en.subject == "A problem with your parcel PF202611220000001: bad weather has delayed it"
    assert "It is now at Shenzhen Hub." in en.body and "arrive by Mon 23 Nov 20:00" in en.body
    assert "resume delivery as soon as the weather allows" in en.body
    # a language without templates falls back to English; zh-TW to Chinese
    assert messages.language("exception", "fr") == "en"
    assert messages.language("exception", "zh-TW") == "zh-CN"
    no_eta = messages.render("exception", replace(weather, eta=None, language="en"),
                             receiver_name="Amy")
    assert "We will tell you the new delivery time" in no_eta.body


def test_local_times_read_naturally_in_each_language():
    moment = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    assert local_time(moment, "zh-CN", SHANGHAI) == "11月24日 18:00"
    assert local_time(moment, "en", SHANGHAI) == "Tue 24 Nov 18:00"
    assert local_time(moment, "en", ZoneInfo("Europe/Berlin")) == "Tue 24 Nov 11:00"
    assert local_time(None, "en", SHANGHAI) == ""


def test_messages_tell_times_in_the_networks_own_zone():
    from parcelflow.bootstrap import load_network
    from parcelflow.domain.network import Network

    assert load_network().zone == SHANGHAI  # the bundled network's facilities
    berlin = Network.from_dict({"cities": [], "lanes": [], "facilities": [
        {"code": "BER-HUB-01", "kind": "hub", "name_zh": "柏林", "name_en": "Berlin Hub",
         "city": "BER", "timezone": "Europe/Berlin"}]})
    messages = Messages(tracking_url="https://t.example/{tracking_no}", zone=berlin.zone)
    late = facts(event="exception_raised", exception_code="weather", customer_facing=True,
                 language="en", eta=datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc))
    assert "arrive by Tue 24 Nov 11:00" in messages.render(
        "exception", late, receiver_name="Amy").body


def test_the_delivered_message_carries_the_survey_link_when_surveys_are_configured():
    from parcelflow.adapters.survey_links import SurveyTokens

    tokens = SurveyTokens("secret-for-this-test")
    links = []

    def link(tracking_no, delivered_at):
        links.append((tracking_no, delivered_at))
        return f"https://t.example/survey/{tokens.issue(tracking_no, 'delivery', delivered_at)}"

    with_link = Messages(tracking_url="https://t.example/{tracking_no}", zone=SHANGHAI,
                         survey_link=link)
    without = Messages(tracking_url="https://t.example/{tracking_no}", zone=SHANGHAI)
    facts_ = facts(event="scan_recorded", status="delivered", previous_status="out_for_delivery",
                   scan_type="delivered")
    body = with_link.render("delivered", facts_, receiver_name="李华").body
    assert "https://t.example/survey/" in body and "1–5" in body
    assert links == [(facts_.tracking_no, facts_.occurred_at)]
    token = body.split("https://t.example/survey/")[1].split()[0]
    assert tokens.read(token)[:2] == (facts_.tracking_no, "delivery")
    assert "survey" not in without.render("delivered", facts_, receiver_name="李华").body
