"""The campaign calendar made concrete: each yearly message becomes a broadcast draft, idempotently.

Drafts are created for every dated message whose day falls in the next HORIZON (so the calendar
rolls over into next year by itself), and for undated messages (staff set the date) of this year and
the next. Broadcast.campaign_key makes a second run, or a second process, create nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from bot.content.campaigns import Campaign, CampaignMessage
from scheduler.store import BroadcastStore

log = logging.getLogger(__name__)

HORIZON = timedelta(days=365)
CREATED_BY = "calendar"


@dataclass(frozen=True)
class Occurrence:
    """One message of a campaign in one year, and when it is due."""

    campaign: Campaign
    message: CampaignMessage
    year: int
    send_at: datetime | None  # UTC; None when staff set the date

    @property
    def key(self) -> str:
        """The key that makes its draft once per year (broadcasts.campaign_key)."""
        return self.campaign.key(self.message, self.year)

    @property
    def text(self) -> str:
        """The message text with the year filled in."""
        return self.message.render(self.year)

    @property
    def title(self) -> str:
        """The draft's title: campaign name and message id."""
        return f"{self.campaign.name} ({self.message.id})"[:200]


def occurrences(campaigns: Sequence[Campaign], year: int, zone: ZoneInfo) -> list[Occurrence]:
    """Every message of the calendar in `year`, dated ones first in date order."""
    result = []
    for campaign in campaigns:
        for message in campaign.messages:
            day = message.on(year)
            when = (
                None
                if day is None
                else datetime.combine(day, message.at, tzinfo=zone).astimezone(ZoneInfo("UTC"))
            )
            result.append(Occurrence(campaign, message, year, when))
    far = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    result.sort(key=lambda o: (o.send_at is None, o.send_at or far, o.campaign.id, o.message.id))
    return result


def due_for_drafts(campaigns: Sequence[Campaign], now: datetime, zone: ZoneInfo,
                   horizon: timedelta = HORIZON) -> list[Occurrence]:
    """The occurrences that should exist as drafts now: dated ones in [now, now + horizon), and
    undated ones of this year and the next."""
    today: date = now.astimezone(zone).date()
    wanted = []
    for year in (today.year, today.year + 1):
        for occ in occurrences(campaigns, year, zone):
            if occ.send_at is None or now <= occ.send_at < now + horizon:
                wanted.append(occ)
    return wanted


async def materialise(bstore: BroadcastStore, campaigns: Sequence[Campaign], zone: ZoneInfo,
                      horizon: timedelta = HORIZON) -> list[int]:
    """Create the missing drafts; returns the new broadcast ids (empty on a second run)."""
    wanted = due_for_drafts(campaigns, bstore.clock.now(), zone, horizon)
    existing = await bstore.by_campaign_keys(o.key for o in wanted)
    created = []
    for occ in wanted:
        if occ.key in existing:
            continue
        try:
            row = await bstore.create(
                title=occ.title, text=occ.text, topics=[occ.campaign.topic], roles=list(occ.campaign.roles),
                channels=list(occ.campaign.channels), send_at=occ.send_at, status="draft", kind="campaign",
                promotion=occ.message.promotion, campaign_key=occ.key, created_by=CREATED_BY)
        except IntegrityError:  # another process created it a moment ago
            continue
        created.append(row.id)
    if created:
        log.info("campaign calendar: %d new draft(s) for staff to review", len(created))
    return created


@dataclass(frozen=True)
class Planned:
    """One message of a year's calendar and what became of it: its draft or broadcast row, if any."""

    occurrence: Occurrence
    row: object | None  # bot.storage.models.Broadcast
    passed: bool  # dated, in the past, and no row: it will not be created

    @property
    def state_vi(self) -> str:
        """Return the state of this message in Vietnamese, for the calendar page."""
        if self.row is not None:
            return f"#{self.row.id} {self.row.status}"
        return "đã qua, không tạo" if self.passed else "chưa tạo bản nháp"


async def year_plan(bstore: BroadcastStore, campaigns: Sequence[Campaign], year: int, zone: ZoneInfo,
                    now: datetime) -> list[Planned]:
    """The calendar's messages of `year` with their drafts (`calendar show` and the console's page)."""
    rows = {b.campaign_key: b for b in await bstore.list(limit=100_000)
            if b.campaign_key and b.campaign_key.endswith(f":{year}")}
    return [
        Planned(
            occ,
            rows.get(occ.key),
            rows.get(occ.key) is None and occ.send_at is not None and occ.send_at < now,
        )
        for occ in occurrences(campaigns, year, zone)
    ]
