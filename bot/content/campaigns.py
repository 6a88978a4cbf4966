"""The yearly campaign calendar's model: campaigns and their dated messages (from content/campaigns.yaml,
loaded and validated by bot.content.files.campaigns). Turning the calendar into broadcast drafts is the
scheduler's job (scheduler/calendar.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time


@dataclass(frozen=True, slots=True)
class CampaignMessage:
    """One message of a campaign, sent each year on its day (or on a day staff set)."""

    id: str
    day: tuple[int, int] | None  # (day, month); None: staff set the date each year
    at: time
    text: str
    note: str = ""
    promotion: bool = False
    line: int = 0

    def on(self, year: int) -> date | None:
        """The date of this message in `year` (None when staff set it)."""
        return None if self.day is None else date(year, self.day[1], self.day[0])

    def render(self, year: int) -> str:
        """The text with its {year} filled in."""
        return self.text.format(year=year)


@dataclass(frozen=True, slots=True)
class Campaign:
    """A yearly campaign: its topic, audience and messages."""

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
