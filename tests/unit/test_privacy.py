from __future__ import annotations

import pytest

from parcelflow.domain.privacy import mask_address, mask_email, mask_name, mask_party, mask_phone


@pytest.mark.parametrize(
    ("name", "masked"),
    [("李华", "李*"), ("王小明", "王**"), ("欧阳娜娜", "欧阳**"), ("John Smith", "* Smith"),
     ("Madonna", "M******"), ("[erased]", "[erased]")],
)
def test_names_keep_the_surname(name, masked):
    assert mask_name(name) == masked


def test_phones_keep_the_first_three_and_last_two_digits():
    assert mask_phone("13812345678") == "138******78"
    assert mask_phone("1234") == "****"


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("广东省深圳市南山区科技园路1号", "广东省深圳市南山区***"),
        ("上海市浦东新区世纪大道100号12楼1203", "上海市浦东新区***"),
        ("12 Main St, Springfield, IL", "***, Springfield, IL"),
        ("12 Main St", "***"),
    ],
)
def test_addresses_lose_street_and_house_number(address, masked):
    assert mask_address(address) == masked


def test_a_party_is_masked_field_by_field():
    party = {"name": "李华", "phone": "13987654321", "address": "上海市浦东新区世纪大道100号",
             "email": "li.hua@example.com", "language": "zh-CN"}
    masked = mask_party(party)
    assert masked == {"name": "李*", "phone": "139******21", "address": "上海市浦东新区***",
                      "email": "l***@example.com", "language": "zh-CN"}
    assert mask_email("nobody") == "***"


def _admin_prefix_unit_by_unit(address: str) -> str:
    """How the leading run of administrative units was found before it was one match
    (privacy._ADMIN_RUN): _ADMIN_UNIT again and again, stopping at a run longer than 8
    characters or holding a digit."""
    import re

    from parcelflow.domain.privacy import _ADMIN_UNIT

    prefix, rest = "", address
    while True:
        m = _ADMIN_UNIT.match(rest)
        if not m or len(m.group(1)) > 8 or re.search(r"\d", m.group(1)):
            return prefix
        prefix += m.group(1)
        rest = rest[len(m.group(1)):]


def test_the_leading_units_are_found_in_one_match_as_unit_by_unit():
    import random

    from parcelflow.domain.privacy import _greedy_admin_prefix

    rng = random.Random(13)
    # Units (自治 before 区 and 州 too), digits of other scripts, separators, a newline.
    alphabet = list("省自治区市县縣旗州盟都府県道路号栋浦东新世纪大01１٣ ,，、;；\n\r\tab*")
    samples = ["", "湖北省武汉市洪山区科技园路15号16栋1108", "内蒙古自治区呼和浩特市",
               "世纪大道100号，浦东新区，上海市", "八个字以上的很长地名区", "北京\n市"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
                for _ in range(20_000)]
    for address in samples:
        assert _greedy_admin_prefix(address) == _admin_prefix_unit_by_unit(address), address
