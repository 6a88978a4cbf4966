"""The yearly campaign calendar (content/campaigns.yaml): parsed and validated with file and line.

Called from the content loader, so `chonnghe content check` reports a broken calendar and the bot
refuses to start on it. Turning the calendar into broadcast drafts is the scheduler's job
(scheduler/calendar.py).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date, time
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from bot.content.loader import ContentBase

FILE = "campaigns.yaml"
# Telegram's sendMessage takes 4,096 characters at most (core.telegram.org/bots/api#sendmessage);
# 4,000 leaves room for the unsubscribe footer every broadcast carries.
MAX_TEXT = 4000
PLACEHOLDERS = {"year"}
CHANNELS = ("telegram", "zalo_oa", "zalo_bot")
CAMPAIGN_FIELDS = {"id", "name", "topic", "audience", "source", "reviewed", "messages", "note"}
MESSAGE_FIELDS = {"id", "date", "time", "text", "note", "promotion"}
AUDIENCE_FIELDS = {"roles", "channels"}
DAY_RE = re.compile(r"^(\d{1,2})/(\d{1,2})$")
SLUG_RE = re.compile(r"^[a-z0-9_]+$")
DEFAULT_QUIET = (time(21, 0), time(7, 0))


@dataclass(frozen=True, slots=True)
class CampaignMessage:
    id: str
    day: tuple[int, int] | None  # (day, month); None: staff set the date each year
    at: time
    text: str
    note: str = ""
    promotion: bool = False
    line: int = 0

    def on(self, year: int) -> date | None:
        return None if self.day is None else date(year, self.day[1], self.day[0])

    def render(self, year: int) -> str:
        return self.text.format(year=year)


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    topic: str
    roles: tuple[str, ...]
    channels: tuple[str, ...]
    source: str
    messages: tuple[CampaignMessage, ...]
    note: str = ""
    line: int = 0

    def key(self, message: CampaignMessage, year: int) -> str:
        """The idempotency key of one yearly draft (Broadcast.campaign_key)."""
        return f"{self.id}.{message.id}:{year}"


def check_calendar(base: ContentBase) -> None:
    """Read and validate campaigns.yaml under base.root (if present); fills base.campaigns and
    appends each problem, with its line, to base.problems."""
    from bot.content.loader import LINE_KEY, LINES_KEY, _Checker, _LineLoader

    path = base.root / FILE
    if not path.exists():
        return
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # _LineLoader is a SafeLoader
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return  # the loader has already reported why the file cannot be read
    checker = _Checker(base, FILE)
    campaigns: list[Campaign] = []
    seen: dict[str, int] = {}

    def line(item: dict, key: str | None = None) -> int:
        if key is None:
            return item.get(LINE_KEY, 0)
        return item.get(LINES_KEY, {}).get(key, item.get(LINE_KEY, 0))

    for item in checker.items(data, "campaigns"):
        checker.unknown_fields(item, CAMPAIGN_FIELDS)
        ident = checker.text(item, "id")
        if ident is not None and not SLUG_RE.match(ident):
            checker.problem(line(item, "id"), f"campaign id {ident!r} may hold only a-z, 0-9 and '_'")
            ident = None
        if ident is not None:
            if ident in seen:
                checker.problem(line(item, "id"), f"duplicate campaign id {ident!r} (first at line {seen[ident]})")
                ident = None
            else:
                seen[ident] = line(item)
        name = checker.text(item, "name")
        source = checker.text(item, "source")
        checker.day(item, "reviewed")
        topic = checker.text(item, "topic")
        if topic is not None and base.topics and topic not in base.topics:
            checker.problem(line(item, "topic"), f"unknown topic {topic!r} (topics.yaml has {sorted(base.topics)})")
        roles: tuple[str, ...] = ()
        channels: tuple[str, ...] = ()
        audience = item.get("audience")
        if audience is not None:
            if not isinstance(audience, dict):
                checker.problem(line(item, "audience"), "'audience' must be a mapping with roles and/or channels")
            else:
                checker.unknown_fields(audience, AUDIENCE_FIELDS)
                roles = checker.text_list(audience, "roles", required=False)
                channels = checker.text_list(audience, "channels", required=False)
                for ch in channels:
                    if ch not in CHANNELS:
                        checker.problem(line(audience, "channels"), f"unknown channel {ch!r} (choose from {CHANNELS})")
        messages = _messages(checker, item, line)
        if None not in (ident, name, source, topic) and messages:
            campaigns.append(Campaign(ident, name, topic, roles, channels, source, tuple(messages),
                                      str(item.get("note") or "").strip(), line(item)))
    base.campaigns = tuple(campaigns)


def _messages(checker: Any, item: dict, line: Any) -> list[CampaignMessage]:
    raw = item.get("messages")
    if not isinstance(raw, list) or not raw:
        checker.problem(line(item, "messages") if "messages" in item else line(item),
                        "'messages' must be a non-empty list")
        return []
    result: list[CampaignMessage] = []
    ids: set[str] = set()
    for msg in raw:
        if not isinstance(msg, dict):
            checker.problem(line(item, "messages"), "each message must be a mapping")
            continue
        checker.unknown_fields(msg, MESSAGE_FIELDS)
        mid = checker.text(msg, "id")
        if mid is not None and (not SLUG_RE.match(mid) or mid in ids):
            checker.problem(line(msg, "id"), f"message id {mid!r} must be unique in its campaign and use a-z, 0-9, '_'")
            mid = None
        if mid:
            ids.add(mid)
        day = None
        if msg.get("date") is not None:
            text = str(msg["date"]).strip()
            match = DAY_RE.match(text)
            ok = False
            if match:
                d, m = int(match.group(1)), int(match.group(2))
                try:
                    date(2023, m, d)  # a non-leap year: the date must exist every year
                    ok, day = True, (d, m)
                except ValueError:
                    ok = False
            if not ok:
                checker.problem(line(msg, "date"), f"'date' must be DD/MM and exist every year (got {text!r})")
        elif not str(msg.get("note") or "").strip():
            checker.problem(line(msg), "a message without 'date' needs a 'note' saying who sets the date")
        at = time(9, 0)
        if msg.get("time") is not None:
            try:
                at = time.fromisoformat(str(msg["time"]).strip())
            except ValueError:
                checker.problem(line(msg, "time"), f"'time' must be HH:MM (got {msg['time']!r})")
        start, end = DEFAULT_QUIET
        if at >= start or at < end:
            checker.problem(line(msg, "time"), f"{at:%H:%M} is inside the default quiet hours 21:00-07:00",
                            "warning")
        text = checker.text(msg, "text", max_len=MAX_TEXT)
        if text is not None:
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as exc:
                checker.problem(line(msg, "text"), f"bad template: {exc} (write {{{{ and }}}} for braces)")
                text = None
            else:
                unknown = fields - PLACEHOLDERS
                if unknown:
                    checker.problem(line(msg, "text"), f"unknown placeholder(s) {sorted(unknown)}; "
                                                       f"allowed: {sorted(PLACEHOLDERS)}")
                    text = None
                elif len(text.format(year=2030)) > MAX_TEXT:
                    checker.problem(line(msg, "text"), f"text is longer than {MAX_TEXT} characters")
        if mid and text:
            result.append(CampaignMessage(mid, day, at, text, str(msg.get("note") or "").strip(),
                                          bool(msg.get("promotion", False)), line(msg)))
    return result
