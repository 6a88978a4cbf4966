"""campaigns.yaml: the yearly campaign calendar, validated with file and line (after topics.yaml: each
campaign names its topic), so `chonnghe content check` reports a broken calendar and the bot refuses to
start on it."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo

from bot.content.campaigns import Campaign, CampaignMessage
from bot.content.schema import (
    OptTextList,
    Schema,
    SoftDay,
    Text,
    context,
    fail,
    required_text,
    soft,
    template_fields,
    text_list,
)
from bot.content.state import LoadState
from bot.content.yamlio import line_of, strip

FILE = "campaigns.yaml"
# Telegram's sendMessage takes 4,096 characters at most (core.telegram.org/bots/api#sendmessage);
# 4,000 leaves room for the unsubscribe footer every broadcast carries.
MAX_TEXT = 4000
PLACEHOLDERS = {"year"}
CHANNELS = ("telegram", "zalo_oa", "zalo_bot")
DAY_RE = re.compile(r"^(\d{1,2})/(\d{1,2})$")
SLUG_RE = re.compile(r"^[a-z0-9_]+$")
DEFAULT_TIME = time(9, 0)
DEFAULT_QUIET = (time(21, 0), time(7, 0))


def _campaign_id(value: Any, info: ValidationInfo) -> str:
    value = required_text(value, info)
    if not SLUG_RE.match(value):
        raise fail(f"campaign id {value!r} may hold only a-z, 0-9 and '_'")
    seen: dict[str, int] = context(info, "seen")
    if value in seen:
        raise fail(f"duplicate campaign id {value!r} (first at line {seen[value]})")
    seen[value] = context(info, "line")
    return value


def _topic(value: Any, info: ValidationInfo) -> str:
    value = required_text(value, info)
    topics = context(info, "topics", {})
    if topics and value not in topics:
        soft(info, f"unknown topic {value!r} (topics.yaml has {sorted(topics)})")
    return value


def _channel(value: str, info: ValidationInfo) -> None:
    if value not in CHANNELS:
        soft(info, f"unknown channel {value!r} (choose from {CHANNELS})")


def _note(value: Any, info: ValidationInfo) -> str:
    return str(value or "").strip()


CampaignId = Annotated[str, BeforeValidator(_campaign_id)]
TopicRef = Annotated[str, BeforeValidator(_topic)]
Note = Annotated[str, BeforeValidator(_note), Field(default=None, validate_default=True)]


class CampaignItem(Schema):
    """One campaign as written in the file (audience and messages are validated one by one)."""

    id: CampaignId
    name: Text
    source: Text
    reviewed: SoftDay
    topic: TopicRef
    audience: Any = None
    messages: Any = None
    note: Note


Channels = text_list(required=False, each=_channel)


class AudienceItem(Schema):
    """Who a campaign goes to: roles and/or channels (empty: everyone subscribed to its topic)."""

    roles: OptTextList
    channels: Channels


def _message_id(value: Any, info: ValidationInfo) -> str:
    value = required_text(value, info)
    ids: set[str] = context(info, "ids")
    if not SLUG_RE.match(value) or value in ids:
        raise fail(f"message id {value!r} must be unique in its campaign and use a-z, 0-9, '_'")
    ids.add(value)
    return value


def _day(value: Any, info: ValidationInfo) -> tuple[int, int] | None:
    if value is None:
        if not info.data.get("note"):
            soft(info, "a message without 'date' needs a 'note' saying who sets the date")
        return None
    text = str(value).strip()
    match = DAY_RE.match(text)
    if match:
        d, m = int(match.group(1)), int(match.group(2))
        try:
            date(2023, m, d)  # a non-leap year: the date must exist every year
            return d, m
        except ValueError:
            pass
    soft(info, f"'date' must be DD/MM and exist every year (got {text!r})")
    return None


def _time(value: Any, info: ValidationInfo) -> time:
    at = DEFAULT_TIME
    if value is not None:
        try:
            at = time.fromisoformat(str(value).strip())
        except ValueError:
            soft(info, f"'time' must be HH:MM (got {value!r})")
    start, end = DEFAULT_QUIET
    if at >= start or at < end:
        soft(info, f"{at:%H:%M} is inside the default quiet hours 21:00-07:00", "warning")
    return at


def _text(value: Any, info: ValidationInfo) -> str:
    value = required_text(value, info)
    if len(value) > MAX_TEXT:
        soft(info, f"'text' is {len(value)} characters (at most {MAX_TEXT})")
    try:
        fields = template_fields(value)
    except ValueError as exc:
        raise fail(f"bad template: {exc} (write {{{{ and }}}} for braces)") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise fail(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(PLACEHOLDERS)}")
    if len(value.format(year=2030)) > MAX_TEXT:
        soft(info, f"text is longer than {MAX_TEXT} characters")
    return value


def _flag(value: Any) -> bool:
    return bool(value)


MessageId = Annotated[str, BeforeValidator(_message_id)]
MessageDay = Annotated[tuple[int, int] | None, BeforeValidator(_day), Field(default=None, validate_default=True)]
MessageTime = Annotated[time, BeforeValidator(_time), Field(default=None, validate_default=True)]
MessageText = Annotated[str, BeforeValidator(_text)]
Flag = Annotated[bool, BeforeValidator(_flag), Field(default=False)]


class MessageItem(Schema):
    """One message of a campaign as written in the file (the field order is the order of the checks)."""

    id: MessageId
    note: Note
    date: MessageDay
    time: MessageTime
    text: MessageText
    promotion: Flag


def load(state: LoadState) -> None:
    """Read and validate campaigns.yaml (if present) into base.campaigns."""
    path = state.root / FILE
    if not path.exists():
        return
    data = state.read(path)
    if data is None:
        return
    state.base.raw[FILE] = strip(data)
    report = state.report(FILE)
    campaigns: list[Campaign] = []
    seen: dict[str, int] = {}
    for item in report.items(data, "campaigns"):
        found = report.validate(CampaignItem, item, seen=seen, line=line_of(item), topics=state.base.topics)
        roles: tuple[str, ...] = ()
        channels: tuple[str, ...] = ()
        audience = item.get("audience")
        if audience is not None:
            if not isinstance(audience, dict):
                report.problem(line_of(item, "audience"), "'audience' must be a mapping with roles and/or channels")
            else:
                who = report.validate(AudienceItem, audience)
                if who is not None:
                    roles, channels = who.roles, who.channels
        messages = _messages(report, item)
        if found is not None and messages:
            campaigns.append(Campaign(found.id, found.name, found.topic, roles, channels, found.source,
                                      tuple(messages), found.note, line_of(item)))
    state.base.campaigns = tuple(campaigns)


def _messages(report: Any, item: dict) -> list[CampaignMessage]:
    raw = item.get("messages")
    if not isinstance(raw, list) or not raw:
        report.problem(line_of(item, "messages"), "'messages' must be a non-empty list")
        return []
    result: list[CampaignMessage] = []
    ids: set[str] = set()
    for msg in raw:
        if not isinstance(msg, dict):
            report.problem(line_of(item, "messages"), "each message must be a mapping")
            continue
        found = report.validate(MessageItem, msg, ids=ids)
        if found is not None:
            result.append(CampaignMessage(found.id, found.date, found.time, found.text, found.note,
                                          found.promotion, line_of(msg)))
    return result
