"""Translations: English msgids in code, Babel .po catalogs per language, Simplified Chinese by default."""
from __future__ import annotations

import contextvars
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "zh_Hans"
LANGUAGES = ("zh_Hans", "en")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("lianfu_language", default=DEFAULT_LANGUAGE)


def N_(msgid: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return msgid


@lru_cache(maxsize=None)
def catalog(language: str) -> dict[str, str]:
    """Every .po file of one language merged into a msgid -> translation map."""
    messages: dict[str, str] = {}
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    for po_file in sorted(folder.glob("*.po")):
        with po_file.open("rb") as fh:
            for message in read_po(fh, locale=language.replace("_Hans", "")):
                if message.id and message.string and not message.fuzzy:
                    key = message.id if isinstance(message.id, str) else message.id[0]
                    value = message.string if isinstance(message.string, str) else message.string[0]
                    messages[key] = value
    return messages


def current_language() -> str:
    return _current.get()


def set_language(language: str) -> contextvars.Token[str]:
    return _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def reset_language(token: contextvars.Token[str]) -> None:
    _current.reset(token)


def translate(msgid: str, language: str | None = None, **params: Any) -> str:
    text = catalog(language or _current.get()).get(msgid, msgid)
    return text.format(**params) if params else text


def gettext(msgid: str, **params: Any) -> str:
    return translate(msgid, None, **params)


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    return translate(singular if n == 1 else plural, None, n=n, **params)


def negotiate(query_lang: str | None, accept_language: str | None, cookie_lang: str | None = None) -> str:
    """`?lang=` wins, then a remembered choice, then the browser's Accept-Language, then Chinese."""
    for candidate in (query_lang, cookie_lang):
        if candidate:
            normalized = normalize(candidate)
            if normalized:
                return normalized
    if accept_language:
        ranked = []
        for part in accept_language.split(","):
            piece, _, q = part.strip().partition(";q=")
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            ranked.append((weight, piece.strip()))
        for _, tag in sorted(ranked, key=lambda item: -item[0]):
            normalized = normalize(tag)
            if normalized:
                return normalized
    return DEFAULT_LANGUAGE


def normalize(tag: str) -> str | None:
    """A language tag as one of LANGUAGES, or None when we do not speak it."""
    tag = tag.lower().replace("-", "_")
    if tag.startswith("zh"):
        return "zh_Hans"
    if tag.startswith("en"):
        return "en"
    return None
