"""Text helpers every layer shares: numbers as Vietnamese write them, channel names, folding, splitting.

Neutral like bot.types: it imports nothing of the project, so channels, the scheduler and handlers can
all use it without an arrow running backwards.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# How channel ids read to a person (display only: nothing branches on the channel).
CHANNEL_LABELS: dict[str, str] = {"telegram": "Telegram", "zalo_oa": "Zalo OA", "zalo_bot": "Zalo Bot",
                                  "web": "Trang web", "cli": "Dòng lệnh"}

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…:;]['\")»]*\s+")


def thousands(value: float) -> str:
    """A whole number with the Vietnamese thousands separator: 1234 -> "1.234" (fractions rounded)."""
    return f"{value:,.0f}".replace(",", ".")


def fold(text: str) -> str:
    """Lower case, no diacritics (đ -> d), no punctuation, single spaces: "Tuyển sinh!" -> "tuyen sinh"."""
    text = text.lower().replace("đ", "d")
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = _PUNCT.sub(" ", text.replace("_", " "))
    return " ".join(text.split())


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (a character outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The length of the longest prefix of `text` that `measure` finds within `limit`."""
    low, high = 0, min(len(text), limit)  # no measure counts a character as less than one
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return max(low, 1)


def _cut(window: str) -> int:
    """Where to cut `window` (too long): after a paragraph, a line, a sentence, a word, in that order of
    preference, provided the first part keeps at least half the window."""
    half = len(window) // 2
    for sep in ("\n\n", "\n"):
        at = window.rfind(sep)
        if at > half:
            return at + len(sep)
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() > half]
    if ends:
        return ends[-1]
    at = window.rfind(" ")
    return at + 1 if at > half else len(window)


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Pieces of at most `limit` (characters, or what `measure` counts), cut after a paragraph, line,
    sentence or word when possible; a text with no such place is cut hard at the limit."""
    pieces: list[str] = []
    rest = text.strip("\n")
    while measure(rest) > limit:
        cut = _cut(rest[:_longest_prefix(rest, limit, measure)])
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces
