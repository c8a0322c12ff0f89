"""Masking personal data: the one place every customer-facing output goes through.

Names keep the surname, phones keep the first 3 and last 2 digits, addresses lose the
street and house number, emails keep their first letter and domain.
"""

from __future__ import annotations

import re

# What is shown in place of personal data that cannot or may not be shown.
ERASED = "[erased]"  # its parcel's key was destroyed: gone for good
SEALED = "[sealed]"  # kept sealed: opened only on request (`--reveal`)
UNREADABLE = "[unreadable]"  # does not open with its parcel's key

# Two-character Chinese surnames (复姓) that must be kept whole.
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 独孤 南宫 西门 百里".split()
)
_CJK = re.compile(r"[\u3400-\u9fff]")
# An administrative unit: province, region, city, district, county, banner, prefecture;
# Japanese 都/府/県 too. (Not 道: 大道 is a street.)
_ADMIN_UNIT = re.compile(r"^(.*?(?:省|自治区|市|区|县|縣|旗|自治州|州|盟|都|府|県))")
# The leading run of units, each at most 8 characters and without a digit, in one match:
# what matching _ADMIN_UNIT again and again from the start finds (`.*?` stops at the
# first unit character, and 自治区/自治州 end in one: so does each repetition here).
# One match for a typical address's four, and no digit searches: mask_address 4.8 -> 1.6
# us (timeit). tests/unit/test_privacy.py compares it with the unit-by-unit loop.
_UNIT_CHARS = "省市区县縣旗州盟都府県"
_ADMIN_RUN = re.compile(rf"(?:[^{_UNIT_CHARS}\d\n]{{0,7}}[{_UNIT_CHARS}])*")
_SEGMENTS = re.compile(r"[,，、;；\s]+")
# Western address parts that locate a door, not a place: numbers, streets, buildings,
# and who it is for.
_STREET_WORDS = re.compile(
    r"\b(?:road|rd|street|st|avenue|ave|lane|ln|way|drive|dr|boulevard|blvd|court|ct|place|"
    r"pl|square|sq|terrace|close|crescent|highway|hwy|flat|floor|fl|apt|apartment|unit|suite|"
    r"room|rm|building|bldg|block|blk|tower|house|estate|no|c/o|attn|p\.?o\.? box)\b\.?",
    re.IGNORECASE)
# Compiled once: `re.search(pattern, ...)` looks its pattern up in re's cache at every
# call, a third of a CJK address's masking (timeit), which a rebuild does for every parcel.
_DIGIT = re.compile(r"\d")
_NOT_DIGITS = re.compile(r"\D")
_WESTERN_PARTS = re.compile(r"[,;]")


def mask_name(name: str) -> str:
    name = name.strip()
    if not name or name == ERASED:
        return name
    if _CJK.match(name):
        surname = name[:2] if name[:2] in _COMPOUND_SURNAMES else name[:1]
        return surname + "*" * max(1, len(name) - len(surname))
    parts = name.split()
    if len(parts) > 1:  # "Given Surname": keep the surname
        return f"* {parts[-1]}"
    return parts[0][0] + "*" * max(1, len(parts[0]) - 1)  # one word: keep its initial


def mask_phone(phone: str) -> str:
    if phone == ERASED or "*" in phone:  # erased, or masked already (masking twice is once)
        return phone
    digits = _NOT_DIGITS.sub("", phone)
    if len(digits) <= 5:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_address(address: str) -> str:
    """Keep only the coarse part — province, city, district — wherever it is written
    (first or last, in any script); street, number, building and floor go."""
    address = address.strip()
    if not address or address == ERASED or "***" in address:  # empty, erased, or masked
        return address
    if _CJK.search(address):
        # Each segment (split at commas and spaces) keeps its leading run of units:
        # "上海市浦东新区世纪大道100号" and "世纪大道100号，浦东新区，上海市" alike.
        kept = [_greedy_admin_prefix(part) for part in _SEGMENTS.split(address)]
        return "".join(k for k in kept if k) + "***"
    parts = [p.strip() for p in _WESTERN_PARTS.split(address)]
    kept = [p for p in parts if p and not _DIGIT.search(p) and not _STREET_WORDS.search(p)]
    return "***" + "".join(f", {p}" for p in kept)


def _greedy_admin_prefix(address: str) -> str:
    return _ADMIN_RUN.match(address).group()  # type: ignore[union-attr]  # (matches "")


def mask_email(email: str) -> str:
    if email == ERASED or "@" not in email:
        return email if email == ERASED else "***"
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_party(party: dict[str, str | None]) -> dict[str, str | None]:
    """A party (name, phone, address, email, ...) with every personal field masked."""
    maskers = _MASKERS
    return {
        key: (maskers[key](value) if key in maskers and isinstance(value, str) else value)
        for key, value in party.items()
    }


_MASKERS = {"name": mask_name, "phone": mask_phone, "address": mask_address,
            "email": mask_email}


# Who signed for a delivery is free text: a role word ("recipient", "front desk") says
# nothing about a person and is shown as it is; anything else is taken for a name.
SIGNATURE_ROLES = frozenset({
    "recipient", "receiver", "self", "front_desk", "front desk", "reception", "neighbour",
    "neighbor", "family", "guard", "security", "locker", "parcel_locker", "mailroom",
    "本人", "前台", "门卫", "家人", "邻居", "快递柜", "代收点",
})
# Seven or more digits, maybe grouped by spaces, dots, dashes, slashes or parentheses
# ("138.1234.5678", "(021) 6123-4567", "138/1234/5678"), not part of a code such as a
# tracking number (letters before), and not a date.
_PHONE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])(?:\+|\()?\d(?:[ .\-/()]{0,2}\d){6,}(?![A-Za-z0-9])")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_EMAIL_IN_TEXT = re.compile(r"[^@\s()]+@[^@\s()]+\.[^@\s()]+")


def mask_signature(signed_by: str) -> str:
    if signed_by.strip().lower() in SIGNATURE_ROLES:
        return signed_by
    return mask_name(signed_by)


def scrub_text(text: str) -> str:
    """Free text (a note, a description) with phone numbers and emails in it masked."""
    text = _PHONE_IN_TEXT.sub(
        lambda m: m.group(0) if _DATE.match(m.group(0)) else mask_phone(m.group(0)), text)
    return _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
