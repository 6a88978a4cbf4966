"""Small helpers shared by the handler modules: content ids in payloads, folding Vietnamese text for
lenient matching, keyboards, dates."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.text import fold
from bot.types import Button, Reply
from handlers.buttons import Menu, QuizStart

if TYPE_CHECKING:
    from bot.content.loader import ContentBase
    from bot.content.texts import Texts

# Content ids longer than this are replaced in payloads by a short checksum and looked up again.
MAX_ID_IN_PAYLOAD = 44


def ref(ident: str) -> str:
    """A content id as it goes into a payload: itself, or "~" + CRC32 when it is long."""
    if len(ident) <= MAX_ID_IN_PAYLOAD:
        return ident
    return "~" + format(zlib.crc32(ident.encode("utf-8")), "08x")


def unref(token: str, ids: Iterable[str]) -> str | None:
    """The content id a payload token stands for, if it (still) exists among `ids`."""
    if not token.startswith("~"):
        return token if token in set(ids) else None
    for ident in ids:
        if ref(ident) == token:
            return ident
    return None


def vn_date(value: date | datetime) -> str:
    """A date as Vietnamese readers write it, dd/mm/yyyy."""
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def rows(buttons: Sequence[Button], per_row: int = 1) -> tuple[tuple[Button, ...], ...]:
    """Buttons laid out as a keyboard, `per_row` to a row."""
    return tuple(tuple(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row))


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut to at most `limit` characters with "…" when it is longer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def menu_buttons(t: Texts) -> tuple[tuple[Button, ...], ...]:
    """The main menu: Hỏi đáp, Tìm nghề, Tìm trường, Nhận tin, Trắc nghiệm chọn nghề, Gặp tư vấn viên."""
    return (
        (Button(t.button("menu_faq"), payload=Menu("faq").pack()),
         Button(t.button("menu_trades"), payload=Menu("nghe").pack())),
        (Button(t.button("menu_schools"), payload=Menu("truong").pack()),
         Button(t.button("menu_news"), payload=Menu("tin").pack())),
        (Button(t.button("menu_quiz"), payload=QuizStart().pack()),),
        (Button(t.button("menu_counsellor"), payload=Menu("tv").pack()),),
    )


def menu_reply(t: Texts, text: str | None = None) -> Reply:
    """`text` (by default the menu prompt) with the main menu's buttons under it."""
    return Reply(text or t("menu"), menu_buttons(t))


def menu_row(t: Texts) -> tuple[Button, ...]:
    """A keyboard row with one button back to the main menu."""
    return (Button(t.button("menu"), payload=Menu().pack()),)


ALL_WORDS = {"tatca", "tat ca", "all", "het", "tat ca chu de"}


def find_topic(base: ContentBase, text: str) -> str | None:
    """A topic id from what someone typed: the id, the id without "_", the label or its first words,
    with or without diacritics. "*" means every topic ("tatca", "tất cả")."""
    wanted = fold(text)
    if not wanted:
        return None
    if wanted in ALL_WORDS or wanted.replace(" ", "") == "tatca":
        return "*"
    compact = wanted.replace(" ", "")
    for topic in base.topics.values():
        names = {fold(topic.id), fold(topic.id).replace(" ", ""), fold(topic.label)}
        if wanted in names or compact in names:
            return topic.id
    # "tin tuyen sinh" / "tuyen sinh 2026": a label or id contained in the text, or the text in a label.
    for topic in base.topics.values():
        idf = fold(topic.id)
        label = fold(topic.label)
        if idf in wanted or (len(wanted) >= 4 and (wanted in label or label in wanted)):
            return topic.id
    return None
