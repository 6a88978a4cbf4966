"""schools.yaml: the schools, with only what a public source supports."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo

from bot.content.models import LEVELS, PROVINCES, School
from bot.content.schema import Day, OptText, OptTextList, Schema, Text, ident, one_of, soft, text_list
from bot.content.state import LoadState
from bot.content.yamlio import line_of

FILE = "schools.yaml"
CHAT_ID_RE = re.compile(r"^-?\d{1,20}$")


def _province(value: Any, info: ValidationInfo) -> str:
    if value is None:
        soft(info, "missing field 'former_province'")
        return ""
    if not isinstance(value, str) or not value.strip():
        soft(info, "'former_province' must be non-empty text")
        return ""
    value = value.strip()
    if value not in PROVINCES:
        soft(info, f"former_province must be one of {sorted(PROVINCES)}")
    return value


def _chat_id(value: Any, info: ValidationInfo) -> str | None:
    """A Telegram chat id: an integer (groups are negative), kept as text."""
    if value is None:
        return None
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not CHAT_ID_RE.match(text):
        soft(info, f"'staff_chat_id' must be a Telegram chat id, an integer such as -1001234567890 (got {value!r})")
        return None
    return text


SchoolId = ident(prefix="truong.")
Province = Annotated[str, BeforeValidator(_province), Field(default=None, validate_default=True)]
Levels = text_list(each=one_of(LEVELS, "level"))
ChatId = Annotated[str | None, BeforeValidator(_chat_id), Field(default=None, validate_default=True)]


class SchoolItem(Schema):
    """One school as written in schools.yaml."""

    id: SchoolId
    name: Text
    former_province: Province
    levels: Levels
    trades: OptTextList
    website: OptText
    source: Text
    reviewed: Day
    staff_chat_id: ChatId
    tags: OptTextList


def load(state: LoadState) -> list[dict]:
    """The schools (read before the trades: a trade's page lists its schools); returns the items loaded,
    for `check_trades` once the trades are known."""
    path = state.root / FILE
    if not path.exists():
        return []
    data = state.read(path)
    if data is None:
        return []
    report = state.report(FILE)
    loaded = []
    for item in report.items(data, "schools"):
        school = report.validate(SchoolItem, item)
        if school is None or not state.claim(report, school.id, line_of(item)):
            continue
        state.base.schools[school.id] = School(school.id, school.name, school.former_province, school.levels,
                                               school.trades, school.website, school.source, school.reviewed,
                                               school.staff_chat_id)
        loaded.append(item)
    return loaded


def check_trades(state: LoadState, items: list[dict]) -> None:
    """Every trade a school lists exists in trades.yaml."""
    report = state.report(FILE)
    for item in items:
        for trade_id in state.base.schools[item["id"].strip()].trades:
            if trade_id not in state.base.trades:
                report.problem(line_of(item, "trades"), f"unknown trade {trade_id!r}")
