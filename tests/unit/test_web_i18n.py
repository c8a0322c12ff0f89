"""Which language a page is in, and that every phrase exists in both."""

from __future__ import annotations

import pytest

from parcelflow.web.i18n import Catalogue, MissingTranslation, choose_language, from_accept_language


def test_the_cookie_wins_then_the_browsers_preference_then_chinese():
    assert choose_language("en", "zh-CN,zh;q=0.9") == "en"
    assert choose_language(None, "zh-TW,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert choose_language(None, "fr-FR,en-GB;q=0.7,zh;q=0.3") == "en"
    assert choose_language("de", "de-DE") == "zh-CN"
    assert choose_language(None, None) == "zh-CN"


def test_accept_language_is_read_by_its_weights_not_its_order():
    assert from_accept_language("zh;q=0.2, en;q=0.9") == "en"
    assert from_accept_language("en;q=0, zh;q=0.1") == "zh-CN"
    assert from_accept_language("fr, de;q=bad") is None


def test_every_phrase_of_the_pages_is_in_both_languages():
    catalogue = Catalogue.load()
    assert catalogue.text("en", "track.tracking_no") == "Tracking number"
    assert catalogue.text("zh-CN", "track.tracking_no") == "运单号"
    en, zh = catalogue.messages["en"], catalogue.messages["zh-CN"]
    assert en.keys() == zh.keys()
    same = [k for k in en if en[k] == zh[k] and any(c.isalpha() for c in en[k])
            and k not in {"base.site"}]
    assert not same, f"untranslated: {same}"


def test_a_phrase_missing_in_one_language_is_refused_at_load():
    with pytest.raises(MissingTranslation, match="zh-CN lacks track.x"):
        Catalogue.checked({"en": {"track.x": "X"}, "zh-CN": {}})


def test_every_status_event_and_complaint_category_has_words_for_customers():
    from parcelflow.domain.vocabulary import ComplaintCategory, ComplaintStatus, Fact, ScanType, Status

    catalogue = Catalogue.load()
    wanted = [f"track.status.{s}" for s in Status] + \
        [f"track.event.{e}" for e in (*ScanType, *Fact)] + \
        [f"track.categories.{c}" for c in ComplaintCategory] + \
        [f"track.complaint_status.{c}" for c in ComplaintStatus]
    assert [k for k in wanted if not catalogue.has(k)] == []
