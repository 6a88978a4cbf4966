"""Broadcasts as staff see them: validation and the lifecycle (create, approve, edit, cancel, show).

Shared by the CLI (bot/cli/broadcast.py), the staff wizard (/guitin) and the calendar. Errors carry a
Vietnamese message (what staff read in the chat) and an English one (logs, the CLI adds it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.storage.models import Broadcast, Delivery
from bot.text import CHANNEL_LABELS
from bot.text import thousands as _n
from scheduler.dispatcher import FOOTER
from scheduler.quiet import QuietHours
from scheduler.store import BROADCAST_CHANNELS, FINISHED, PROMO_CHANNEL, BroadcastStore, PromoLimits, loads

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

# Telegram's sendMessage takes at most 4,096 characters (core.telegram.org/bots/api#sendmessage);
# 4,000 leaves room for the unsubscribe footer. Zalo Bot's 2,000 limit is handled by its adapter,
# which splits long text at sentence boundaries.
MAX_TEXT = 4000
PAST_TOLERANCE = timedelta(minutes=1)  # "now" typed a few seconds late is still now
ROLE_RE = re.compile(r"^[a-z0-9_]{1,32}$")
STATUS_VI = {
    "draft": "bản nháp", "scheduled": "đã lên lịch", "sending": "đang gửi", "done": "đã gửi xong",
    "cancelled": "đã hủy", "failed": "thất bại", "missed": "bị lỡ",
}


class BroadcastError(Exception):
    """A refused request, with a message for staff in Vietnamese and one in English."""

    def __init__(self, vi: str, en: str):
        super().__init__(en)
        self.vi = vi
        self.en = en

    def __str__(self) -> str:
        return f"{self.vi} ({self.en})"


@dataclass(frozen=True)
class Timing:
    """When a broadcast will go out, and the time asked for when quiet hours moved it."""

    send_at: datetime
    moved_from: datetime | None = None  # set when a time in quiet hours was moved to their end


@dataclass(frozen=True)
class Plan:
    """Who a broadcast would reach if it started at `at`: people per channel, and for a promotion
    broadcast the Zalo OA followers Zalo's limits would leave out (they end `skipped`)."""

    counts: dict[str, int]
    promotion: bool = False
    over_day: int = 0  # Zalo OA followers who already had their promotion message of that day
    over_month: int = 0  # ... or, besides those, of that month
    limits: PromoLimits | None = None

    @property
    def total(self) -> int:
        """Recipients in all."""
        return sum(self.counts.values())

    @property
    def over(self) -> int:
        """Zalo OA recipients who would be skipped (the day's or the month's promotion limit)."""
        return self.over_day + self.over_month

    @property
    def reachable(self) -> dict[str, int]:
        """Recipients per channel who can actually get it."""
        result = dict(self.counts)
        if self.over:
            result[PROMO_CHANNEL] = max(0, result.get(PROMO_CHANNEL, 0) - self.over)
        return result

    def per_channel_vi(self) -> str:
        """ "Telegram 900, Zalo OA 75/80" (reachable/audience where limits cut it)."""
        parts = []
        for ch in sorted(self.counts):
            label = CHANNEL_LABELS.get(ch, ch)
            reach, audience = self.reachable[ch], self.counts[ch]
            parts.append(
                f"{label} {_n(reach)}" if reach == audience else f"{label} {_n(reach)}/{_n(audience)}"
            )
        return ", ".join(parts)

    def warnings(self) -> list[tuple[str, str]]:
        """(Vietnamese, English) warnings for staff before they confirm."""
        if not self.promotion or not self.over or self.limits is None:
            return []
        reach = self.reachable.get(PROMO_CHANNEL, 0)
        audience = self.counts.get(PROMO_CHANNEL, 0)
        vi = (
            f"⚠️ Tin quảng bá vượt giới hạn của Zalo OA ({self.limits.per_day} tin/ngày, "
            f"{self.limits.per_month} tin/tháng cho mỗi người theo dõi): {_n(self.over)} người trên Zalo OA "
            f"sẽ bị bỏ qua ({_n(self.over_day)} đã nhận tin quảng bá trong ngày, {_n(self.over_month)} đã đủ "
            f"số tin của tháng). Trên Zalo OA tin chỉ đến được {_n(reach)}/{_n(audience)} người."
        )
        en = (f"promotion limits on Zalo OA ({self.limits.per_day}/day, {self.limits.per_month}/month per "
              f"follower): {self.over} recipient(s) will be skipped ({self.over_day} at the day's limit, "
              f"{self.over_month} at the month's); Zalo OA reach {reach}/{audience}")
        return [(vi, en)]


class Broadcasts:
    """The broadcast service handlers and the CLI use (Services.broadcasts)."""

    def __init__(self, store: Store, settings: Settings, clock: Clock | None = None,
                 topics: Callable[[], dict[str, str]] | None = None):
        self.store = store
        self.bstore = BroadcastStore(store)
        self.settings = settings
        self.clock = clock or store.clock
        self.zone: ZoneInfo = settings.zone
        self.quiet = QuietHours.parse(settings.quiet_hours, self.zone)
        self.promo = PromoLimits(settings.zalo_oa_promo_per_day, settings.zalo_oa_promo_per_month, self.zone)
        self._topics = topics or (lambda: {})
        self.on_change: Callable[[], None] | None = None  # the running scheduler's wake-up

    # --- formatting ----------------------------------------------------------------------------

    @staticmethod
    def as_received(text: str) -> str:
        """The text as recipients see it: with the footer saying how to stop broadcasts."""
        return text.rstrip() + FOOTER

    @staticmethod
    def topics_of(row: Broadcast) -> list[str]:
        """The topic ids a broadcast row is for."""
        return loads(row.topics)

    def local(self, when: datetime | None) -> str:
        """A time as staff read it, in the configured zone ('chưa đặt giờ' for none)."""
        return "chưa đặt giờ" if when is None else when.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def topics(self) -> dict[str, str]:
        """Topic id -> label, from content/topics.yaml."""
        return self._topics()

    # --- validation ----------------------------------------------------------------------------

    def check_text(self, text: str | None) -> str:
        """The text stripped, or BroadcastError when it is empty or too long."""
        text = (text or "").strip()
        if not text:
            raise BroadcastError("Nội dung tin đang trống.", "the text is empty")
        if len(text) > MAX_TEXT:
            raise BroadcastError(f"Nội dung dài {_n(len(text))} ký tự, tối đa {_n(MAX_TEXT)} ký tự.",
                                 f"the text is {len(text)} characters, at most {MAX_TEXT}")
        return text

    def check_topics(self, topics: Sequence[str]) -> list[str]:
        """The topics without duplicates, or BroadcastError naming the unknown ones."""
        topics = list(dict.fromkeys(t.strip() for t in topics if t and t.strip()))
        if not topics:
            raise BroadcastError("Hãy chọn ít nhất một chủ đề.", "choose at least one topic")
        known = self.topics()
        unknown = [t for t in topics if t not in known]
        if unknown:
            names = ", ".join(sorted(known)) or "(chưa có chủ đề nào trong content/topics.yaml)"
            raise BroadcastError(f"Chủ đề không có: {', '.join(unknown)}. Các chủ đề: {names}.",
                                 f"unknown topic {', '.join(unknown)}; known: {names}")
        return topics

    def check_roles(self, roles: Sequence[str]) -> list[str]:
        """The roles without duplicates, or BroadcastError naming malformed ones."""
        roles = list(dict.fromkeys(r.strip() for r in roles if r and r.strip()))
        bad = [r for r in roles if not ROLE_RE.match(r)]
        if bad:
            raise BroadcastError(f"Vai trò không hợp lệ: {', '.join(bad)}.", f"bad role {', '.join(bad)}")
        return roles

    def check_channels(self, channels: Sequence[str]) -> list[str]:
        """The channels without duplicates, or BroadcastError naming unsupported ones."""
        channels = list(dict.fromkeys(c.strip() for c in channels if c and c.strip()))
        bad = [c for c in channels if c not in BROADCAST_CHANNELS]
        if bad:
            raise BroadcastError(
                f"Kênh không hỗ trợ gửi tin: {', '.join(bad)} (chọn: {', '.join(BROADCAST_CHANNELS)}).",
                f"unknown channel {', '.join(bad)}; choose from {', '.join(BROADCAST_CHANNELS)}",
            )
        return channels

    def parse_when(self, text: str | None) -> datetime | None:
        """City time "YYYY-MM-DD HH:MM" (also "DD/MM/YYYY HH:MM", "DD/MM HH:MM", "HH:MM" today) -> UTC.
        None or "now"/"ngay" means now."""
        text = (text or "").strip().lower()
        if text in ("", "now", "ngay", "bây giờ", "gửi ngay"):
            return None
        local_now = self.clock.now().astimezone(self.zone)
        for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M", "%d/%m %H:%M", "%H:%M"):
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if fmt == "%d/%m %H:%M":
                parsed = parsed.replace(year=local_now.year)
            elif fmt == "%H:%M":
                parsed = parsed.replace(year=local_now.year, month=local_now.month, day=local_now.day)
            return parsed.replace(tzinfo=self.zone).astimezone(UTC)
        raise BroadcastError(f"Không hiểu thời điểm {text!r}. Hãy viết theo mẫu 2026-10-02 09:00.",
                             f"cannot read the time {text!r}; expected YYYY-MM-DD HH:MM")

    def check_time(self, send_at: datetime | None, move_out_of_quiet: bool = False) -> Timing:
        """Refuse a time in the past or in quiet hours (or move it to their end when asked)."""
        now = self.clock.now()
        when = now if send_at is None else send_at
        if when < now - PAST_TOLERANCE:
            raise BroadcastError(
                f"Thời điểm {self.local(when)} đã qua.", f"{self.local(when)} is in the past"
            )
        if when < now:
            when = now
        if self.quiet.contains(when):
            if not move_out_of_quiet:
                end = self.quiet.end_after(when)
                raise BroadcastError(
                    f"{self.local(when)} nằm trong giờ yên tĩnh ({self.quiet}); tin không được gửi lúc này. "
                    f"Hãy chọn giờ khác hoặc dời sang {self.local(end)}.",
                    f"{self.local(when)} is inside quiet hours {self.quiet}; pick another time or move it to "
                    f"{self.local(end)} (--move-out-of-quiet-hours)")
            return Timing(self.quiet.end_after(when), moved_from=when)
        return Timing(when)

    async def audience(self, topics: Sequence[str], roles: Sequence[str] = (),
                       channels: Sequence[str] = ()) -> dict[str, int]:
        """People the audience reaches now, per channel; refuses an audience of nobody."""
        counts = await self.bstore.audience(topics, roles, channels)
        if sum(counts.values()) == 0:
            raise BroadcastError("Không có ai đăng ký nhận tin phù hợp với đối tượng này.",
                                 "the audience is empty: nobody active is subscribed to these topics")
        return counts

    async def plan(self, topics: Sequence[str], roles: Sequence[str] = (), channels: Sequence[str] = (), *,
                   promotion: bool = False, at: datetime | None = None) -> Plan:
        """Who the broadcast would reach at `at` (default now), per channel, with Zalo OA's promotion
        limits applied when `promotion`; refuses an audience of nobody."""
        counts = await self.audience(topics, roles, channels)
        if not promotion or not counts.get(PROMO_CHANNEL):
            return Plan(counts, promotion, limits=self.promo)
        over_day, over_month = await self.bstore.over_promo_limits(topics, roles, channels, self.promo,
                                                                   at or self.clock.now())
        return Plan(counts, promotion, over_day, over_month, self.promo)

    # --- lifecycle -----------------------------------------------------------------------------

    async def create(
        self,
        text: str,
        topics: Sequence[str],
        roles: Sequence[str] = (),
        channels: Sequence[str] = (),
        at: datetime | None = None,
        *,
        move_out_of_quiet: bool = False,
        created_by: str | None = None,
        title: str | None = None,
        buttons: Sequence[dict[str, str]] = (),
        promotion: bool = False,
    ) -> tuple[Broadcast, Timing]:
        """Validate and schedule a broadcast (created by staff: approved by creating it). `promotion`:
        it counts against Zalo OA's per-follower promotion limits (see `plan` for who it reaches)."""
        text = self.check_text(text)
        topics = self.check_topics(topics)
        roles, channels = self.check_roles(roles), self.check_channels(channels)
        timing = self.check_time(at, move_out_of_quiet)
        await self.audience(topics, roles, channels)
        row = await self.bstore.create(
            text=text,
            topics=topics,
            roles=roles,
            channels=channels,
            buttons=list(buttons),
            send_at=timing.send_at,
            status="scheduled",
            created_by=created_by,
            approved_by=created_by,
            title=title,
            promotion=promotion,
        )
        log.info("broadcast %d scheduled for %s by %s (topics %s)", row.id, self.local(timing.send_at),
                 created_by, ",".join(topics))
        self._changed()
        return row, timing

    async def get(self, broadcast_id: int) -> Broadcast:
        """A broadcast by id, or BroadcastError when there is none."""
        row = await self.bstore.get(broadcast_id)
        if row is None:
            raise BroadcastError(f"Không có tin #{broadcast_id}.", f"no broadcast {broadcast_id}")
        return row

    async def approve(self, broadcast_id: int, *, by: str | None = None, at: datetime | None = None,
                      move_out_of_quiet: bool = False) -> tuple[Broadcast, Timing]:
        """draft -> scheduled, after checking it again (its time may have to be set: `at`)."""
        row = await self.get(broadcast_id)
        if row.status != "draft":
            raise BroadcastError(
                f"Tin #{row.id} đang ở trạng thái {STATUS_VI.get(row.status, row.status)}, "
                "chỉ duyệt được bản nháp.",
                f"broadcast {row.id} is {row.status}, not a draft",
            )
        when = at or row.send_at
        if when is None:
            raise BroadcastError(f"Tin #{row.id} chưa có thời điểm gửi; hãy đặt giờ (--at).",
                                 f"broadcast {row.id} has no send time; give --at")
        self.check_text(row.text)
        topics = self.check_topics(loads(row.topics))
        timing = self.check_time(when, move_out_of_quiet)
        await self.audience(topics, loads(row.roles), loads(row.channels))
        if not await self.bstore.update(
            row.id, ["draft"], status="scheduled", send_at=timing.send_at, approved_by=by
        ):
            raise BroadcastError(
                f"Tin #{row.id} vừa bị thay đổi, hãy thử lại.", "changed concurrently; try again"
            )
        self._changed()
        return await self.get(row.id), timing

    async def edit(self, broadcast_id: int, *, text: str | None = None, topics: Sequence[str] | None = None,
                   roles: Sequence[str] | None = None, channels: Sequence[str] | None = None,
                   at: datetime | None = None, move_out_of_quiet: bool = False,
                   promotion: bool | None = None) -> Broadcast:
        """Change a draft or a scheduled broadcast (not one that started)."""
        row = await self.get(broadcast_id)
        if row.status not in ("draft", "scheduled"):
            raise BroadcastError(
                f"Tin #{row.id} {STATUS_VI.get(row.status, row.status)}, không sửa được nữa.",
                f"broadcast {row.id} is {row.status}; only drafts and scheduled ones can be edited",
            )
        values: dict[str, Any] = {}
        if text is not None:
            values["text"] = self.check_text(text)
        if topics is not None:
            values["topics"] = self.check_topics(topics)
        if roles is not None:
            values["roles"] = self.check_roles(roles)
        if channels is not None:
            values["channels"] = self.check_channels(channels)
        if at is not None:
            values["send_at"] = self.check_time(at, move_out_of_quiet).send_at
        if promotion is not None:
            values["promotion"] = promotion
        if row.status == "scheduled" and ({"topics", "roles", "channels"} & set(values)):
            await self.audience(
                values.get("topics", loads(row.topics)),
                values.get("roles", loads(row.roles)),
                values.get("channels", loads(row.channels)),
            )
        if values and not await self.bstore.update(row.id, ["draft", "scheduled"], **values):
            raise BroadcastError(
                f"Tin #{row.id} vừa bắt đầu gửi, không sửa được nữa.", "it started meanwhile"
            )
        self._changed()
        return await self.get(row.id)

    async def cancel(self, broadcast_id: int) -> Broadcast:
        """Cancel a draft, a scheduled broadcast, or the rest of one being sent."""
        row = await self.get(broadcast_id)
        if row.status in FINISHED:
            raise BroadcastError(f"Tin #{row.id} {STATUS_VI[row.status]}, không thể hủy.",
                                 f"broadcast {row.id} is already {row.status}; nothing to cancel")
        if not await self.bstore.update(row.id, ["draft", "scheduled", "sending"], status="cancelled",
                                        finished_at=self.clock.now()):
            raise BroadcastError(f"Tin #{row.id} vừa kết thúc, không thể hủy.", "it finished meanwhile")
        async with self.store.session() as s:  # recipients not reached yet are not reached at all
            await s.execute(
                sa.update(Delivery)
                .where(Delivery.broadcast_id == row.id, Delivery.status == "pending")
                .values(status="skipped", last_error="broadcast cancelled", lease_until=None)
            )
        log.info("broadcast %d cancelled (was %s)", row.id, row.status)
        self._changed()
        return await self.get(row.id)

    async def show(self, broadcast_id: int) -> dict[str, Any]:
        """Status and delivery counts, overall and per channel (the shape `broadcast show --json` prints)."""
        row = await self.get(broadcast_id)
        counts = await self.bstore.counts(row.id)
        return {
            "id": row.id,
            "status": row.status,
            "counts": counts,
            "total": sum(counts.values()),
            "channels": await self.bstore.channel_counts(row.id),
            "title": row.title,
            "topics": loads(row.topics),
            "roles": loads(row.roles),
            "channels_filter": loads(row.channels),
            "send_at": self.local(row.send_at) if row.send_at else None,
            "started_at": self.local(row.started_at) if row.started_at else None,
            "finished_at": self.local(row.finished_at) if row.finished_at else None,
            "kind": row.kind,
            "promotion": row.promotion,
            "campaign_key": row.campaign_key,
            "error": row.error,
            "text": row.text,
        }

    EXPORT_HEADER = ("delivery_id", "channel", "platform_id", "user_id", "status", "attempts", "last_error",
                     "sent_at", "message_id")

    async def export_rows(self, broadcast_id: int) -> AsyncIterator[list[list[Any]]]:
        """Every delivery of a broadcast as CSV rows (header first), in chunks: `broadcast export` and the
        console's download."""
        await self.get(broadcast_id)  # a clear error for an unknown id
        yield [list(self.EXPORT_HEADER)]
        async for chunk in self.bstore.deliveries(broadcast_id):
            yield [[d.id, d.channel, d.platform_id, d.user_id or "", d.status, d.attempts, d.last_error or "",
                    d.sent_at.astimezone(self.zone).isoformat(timespec="seconds") if d.sent_at else "",
                    d.message_id or ""] for d in chunk]

    async def upcoming(self, limit: int = 20) -> list[Broadcast]:
        """Drafts, scheduled and sending broadcasts, soonest first."""
        return await self.bstore.list(["draft", "scheduled", "sending"], limit=limit)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

