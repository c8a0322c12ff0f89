"""The pages' words in Simplified Chinese and English, and which language a request gets.

Each area of the pages keeps its words in its own file, `messages/<area>.toml`, with one
table per language (`[en]`, `["zh-CN"]`), so both translations of a phrase sit side by
side and a new area (the console) adds a file instead of editing a shared one. A key is
`<area>.<name>`; a key missing in any language fails at start-up, not on a customer's
screen.

The language: the `lang` cookie (set by the switch link every page carries), else the
best match in `Accept-Language`, else the network's language (Chinese).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANG_COOKIE = "lang"
# What each language is called in itself: the switch link names the other language so.
NATIVE_NAMES = {"zh-CN": "中文", "en": "English"}


class MissingTranslation(ValueError):
    pass


@dataclass(frozen=True)
class Catalogue:
    messages: dict[str, dict[str, str]]  # language -> key -> text

    @classmethod
    def load(cls, package: str = "parcelflow.web", folder: str = "messages") -> Catalogue:
        messages: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
        for path in sorted(files(package).joinpath(folder).iterdir(), key=lambda p: p.name):
            if not path.name.endswith(".toml"):
                continue
            area = path.name.removesuffix(".toml")
            data = tomllib.loads(path.read_text("utf-8"))
            for lang in LANGUAGES:
                for key, text in _flat(data.get(lang, {})):
                    messages[lang][f"{area}.{key}"] = text
        return cls.checked(messages)

    @classmethod
    def checked(cls, messages: dict[str, dict[str, str]]) -> Catalogue:
        keys = set().union(*(m.keys() for m in messages.values()))
        for lang in LANGUAGES:
            missing = sorted(keys - messages.get(lang, {}).keys())
            if missing:
                raise MissingTranslation(f"{lang} lacks {', '.join(missing)}")
        return cls(messages)

    def text(self, lang: str, key: str, **values: Any) -> str:
        try:
            text = self.messages[lang][key]
        except KeyError:
            raise MissingTranslation(f"no message {key!r}") from None
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.messages[DEFAULT_LANGUAGE]


def _flat(table: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            out.extend(_flat(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", str(value)))
    return out


def supported(value: str | None) -> str | None:
    """The supported language a tag names (`zh`, `zh-Hans-CN`, `en-GB` ...), or None."""
    if not value:
        return None
    base = value.strip().lower().split("-")[0]
    if base == "zh":
        return "zh-CN"
    if base == "en":
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language in an Accept-Language header (RFC 9110 q-values)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = supported(tag)
        if lang and q > 0 and (best is None or (q, -position) > best[:2]):
            best = (q, -position, lang)
    return best[2] if best else None


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    return (cookie if cookie in LANGUAGES else None) or from_accept_language(accept_language) \
        or DEFAULT_LANGUAGE
