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
