"""The scheduler service: APScheduler jobs rebuilt from the database, the leader's duties, the dispatcher.

The database is the source of truth. At start, and every POLL_INTERVAL seconds after (so broadcasts
created by the CLI or another process are picked up without a restart), the leader:
- creates the campaign calendar's drafts (scheduler.calendar),
- makes one APScheduler date job per scheduled broadcast (MemoryJobStore: rebuilt, never trusted),
- starts broadcasts whose time has come; one that is late by more than CHONNGHE_BROADCAST_GRACE
  (the service was down) is marked missed and reported to staff instead,
- once a day, anonymises registrations for counselling older than CHONNGHE_LEAD_RETENTION.
Every process, leader or not, runs a dispatcher, so several processes can share one broadcast.

APScheduler 3's default misfire_grace_time is 1 s: a job one second late (a busy loop, a slow start)
would be skipped silently. Broadcast jobs get misfire_grace_time = the broadcast grace and
coalesce=True; the sync job gets misfire_grace_time=None (late is fine, it just runs) and coalesce.
A missed job is not lost either way: the next sync finds the row and decides from its lateness.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.storage.guidance import months_before
from bot.text import CHANNEL_LABELS
from bot.text import thousands as n
from bot.types import Reply, UserRef
from scheduler.broadcasts import STATUS_VI, Broadcasts
from scheduler.calendar import materialise
from scheduler.dispatcher import Dispatcher
from scheduler.leader import LeaderLock
from scheduler.quiet import QuietHours
from scheduler.store import BroadcastStore, loads

if TYPE_CHECKING:
    from bot.clock import Clock, Ticker
    from bot.config import Settings
    from bot.content.campaigns import Campaign
    from bot.outbound import Outbound
    from bot.ports import Messenger
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

POLL_INTERVAL = 2.0  # seconds between database syncs (new broadcasts from the CLI, cancels, ...)
JOB_PREFIX = "broadcast:"
RETENTION_ACTOR = UserRef("scheduler", "lead-retention")  # who the audit log names for anonymisations


class SchedulerService:
    """What bot.app starts and stops: `start()`, `stop()`; `broadcasts` is the staff-facing service."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        outbound: Outbound,
        broadcasts: Broadcasts,
        *,
        campaigns: Callable[[], Sequence[Campaign]] = tuple,
        messenger: Messenger | None = None,
        staff_chat: UserRef | None = None,
        poll_interval: float = POLL_INTERVAL,
        dispatcher_poll: float = 1.0,
        linger: float | None = None,
        ticker: Ticker | None = None,
    ):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.broadcasts = broadcasts
        self.bstore: BroadcastStore = broadcasts.bstore
        self.zone = settings.zone
        self.grace = settings.broadcast_grace
        self.quiet = QuietHours.parse(settings.quiet_hours, self.zone)
        self.campaigns = campaigns
        self.messenger = messenger
        self.staff_chat = staff_chat
        self.poll_interval = poll_interval
        self.leader = LeaderLock(store.engine)
        extra: dict[str, Any] = {} if linger is None else {"linger": linger}
        self.dispatcher = Dispatcher(self.bstore, outbound, clock, concurrency=settings.broadcast_concurrency,
                                     max_attempts=settings.broadcast_max_attempts, quiet=self.quiet,
                                     poll_interval=dispatcher_poll, on_finished=self._finished, ticker=ticker,
                                     **extra)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            timezone=self.zone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(self.grace.total_seconds()),
            },
        )
        self._jobs: dict[int, datetime] = {}
        self._calendar_day: date | None = None
        self._retention_day: date | None = None
        self._sync_lock = asyncio.Lock()
        self._started = False
        self._stopping = False
        broadcasts.on_change = self.poke

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Reap dead rows, sync once, start the dispatcher and the periodic sync."""
        self._stopping = False
        # SQLite: this is the only process, so anything left 'sending' was in flight when it died.
        await self.bstore.reap(everything=not self.bstore.is_postgres)
        await self.sync()
        await self.dispatcher.start()
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        # The periodic sync, chosen so that a busy process stays quiet in the log:
        # - misfire_grace_time=None: a run that comes late (the event loop was busy) still runs; the
        #   default (1 s) would skip it with a "was missed by" warning each time.
        # - coalesce=True: after a long stall the backlog of due runs collapses into one run.
        # - max_instances=3 with `_tick` returning at once while a sync is in progress: a sync that takes
        #   longer than the interval under load (a big broadcast starting, a slow database) is simply
        #   not doubled. With max_instances=1, APScheduler logged "skipped: maximum number of running
        #   instances reached" every 2 s for as long as that lasted. A skipped tick loses nothing: the
        #   running sync reads the database after it and the next tick comes 2 s later.
        self.scheduler.add_job(self._tick, IntervalTrigger(seconds=self.poll_interval), id="sync",
                               misfire_grace_time=None, coalesce=True, max_instances=3)
        self.scheduler.start()
        self._started = True
        log.info(
            "scheduler started (leader: %s, quiet hours %s, grace %s)",
            self.leader.held,
            self.quiet,
            self.grace,
        )

    async def stop(self) -> None:
        """Stop syncing (after a sync in progress), the dispatcher, and leadership."""
        self._stopping = True  # ticks from now on do nothing (one waiting for the lock would be cancelled)
        if self._started:
            # Let a sync in progress finish first: shutting APScheduler down cancels the coroutine it
            # is running (and logs that as an error). Not for ever: a hung database must not block stop.
            try:
                await asyncio.wait_for(self._sync_lock.acquire(), 10)
                locked = True
            except TimeoutError:
                locked = False
            try:
                self.scheduler.shutdown(wait=False)
            finally:
                if locked:
                    self._sync_lock.release()
            self._started = False
        await self.dispatcher.stop()
        await self.leader.release()
        log.info("scheduler stopped")

    async def _tick(self) -> None:
        """The periodic sync; does nothing while another sync (a tick or a poke) is still running."""
        if self._sync_lock.locked() or self._stopping:
            log.debug("sync still running or the service is stopping; this tick is skipped")
            return
        await self.sync()

    def poke(self) -> None:
        """Something changed in this process (a staff command): sync soon rather than at the next poll."""
        if self._started and not self._stopping:
            asyncio.get_running_loop().create_task(self.sync())

    # --- the leader's duties -------------------------------------------------------------------

    async def sync(self) -> None:
        """Bring the jobs in line with the database, start what is due, reap dead workers' rows."""
        async with self._sync_lock:
            try:
                await self.bstore.reap()
                if await self.leader.acquire():
                    await self._calendar()
                    await self._retention()
                    await self._rebuild_jobs()
                elif self._jobs:
                    self._drop_jobs(set(self._jobs))
                self.dispatcher.wake()
            except Exception:
                log.exception("scheduler sync failed; retrying at the next poll")

    async def _calendar(self) -> None:
        today = self.clock.now().astimezone(self.zone).date()
        if self._calendar_day == today:
            return
        campaigns = self.campaigns()
        if campaigns:
            await materialise(self.bstore, campaigns, self.zone)
        self._calendar_day = today

    async def _retention(self) -> None:
        """Once a day: registrations older than the retention period lose their name, phone and user link."""
        now = self.clock.now()
        today = now.astimezone(self.zone).date()
        if self._retention_day == today:
            return
        await self.store.leads.anonymise(months_before(now, self.settings.lead_retention), RETENTION_ACTOR)
        self._retention_day = today

    async def _rebuild_jobs(self) -> None:
        now = self.clock.now()
        rows = await self.bstore.scheduled()
        seen = set()
        for row in rows:
            if row.send_at is None:
                continue
            seen.add(row.id)
            if row.send_at <= now:
                self._drop_jobs({row.id})
                await self.fire(row.id)
            elif self._jobs.get(row.id) != row.send_at:
                self.scheduler.add_job(self.fire, DateTrigger(run_date=row.send_at), args=[row.id],
                                       id=f"{JOB_PREFIX}{row.id}", replace_existing=True,
                                       misfire_grace_time=int(self.grace.total_seconds()), coalesce=True)
                self._jobs[row.id] = row.send_at
        self._drop_jobs(set(self._jobs) - seen)

    def _drop_jobs(self, ids: set[int]) -> None:
        for bid in ids:
            self._jobs.pop(bid, None)
            try:
                self.scheduler.remove_job(f"{JOB_PREFIX}{bid}")
            except Exception:
                pass  # already ran or never added

    def _on_missed(self, event: JobExecutionEvent) -> None:
        if str(event.job_id).startswith(JOB_PREFIX):
            bid = int(str(event.job_id)[len(JOB_PREFIX):])
            asyncio.get_running_loop().create_task(self.fire(bid))

    async def fire(self, broadcast_id: int) -> str | None:
        """A broadcast's time has come: start it, postpone it out of quiet hours, or mark it missed.

        Returns what happened ("sending", "postponed", "missed", "failed") or None when there was
        nothing to do (cancelled meanwhile, or another process started it)."""
        self._jobs.pop(broadcast_id, None)
        row = await self.bstore.get(broadcast_id)
        if row is None or row.status != "scheduled" or row.send_at is None:
            return None
        now = self.clock.now()
        if now < row.send_at:  # edited to a later time after the job was made
            return None
        if now - row.send_at > self.grace:
            if await self.bstore.update(row.id, ["scheduled"], status="missed", finished_at=now,
                                        error=f"{now - row.send_at} late (grace {self.grace})"):
                log.warning("broadcast %d missed: due %s, now %s", row.id, row.send_at, now)
                await self._report_missed(row.id)
                return "missed"
            return None
        if self.quiet.contains(now):
            later = self.quiet.end_after(now)
            await self.bstore.update(row.id, ["scheduled"], send_at=later)
            log.info("broadcast %d is due in quiet hours: moved to %s", row.id, self.broadcasts.local(later))
            return "postponed"
        total = await self.bstore.start_sending(row.id, promo=self.broadcasts.promo)
        if total is None:
            return None
        log.info("broadcast %d started: %d recipient(s)", row.id, total)
        if total == 0:
            await self.bstore.update(row.id, ["sending"], status="failed", finished_at=now,
                                     error="nobody in the audience when sending started")
            await self._finished(row.id, "failed")
            return "failed"
        self.dispatcher.wake()
        return "sending"

    # --- staff reports -------------------------------------------------------------------------

    async def _tell_staff(self, text: str) -> None:
        if self.messenger is None or self.staff_chat is None:
            log.info("staff report (no staff chat configured): %s", text.replace("\n", " | "))
            return
        try:
            await self.messenger.send(self.staff_chat, Reply(text))
        except Exception:
            log.exception("could not send the staff report")

    def _label(self, row: Any) -> str:
        return row.title or ", ".join(loads(row.topics))

    async def _finished(self, broadcast_id: int, status: str) -> None:
        if not await self.bstore.claim_report(broadcast_id):
            return
        row = await self.bstore.get(broadcast_id)
        if row is None:
            return
        c = await self.bstore.counts(broadcast_id)
        total = sum(c.values())
        lines = [f"📣 Tin #{row.id} ({self._label(row)}): {STATUS_VI.get(status, status)}.",
                 f"Đã gửi: {n(c.get('sent', 0))}/{n(total)} người nhận."]
        extra = [
            (label, c.get(key, 0))
            for key, label in (
                ("blocked", "chặn bot hoặc không còn liên lạc được"),
                ("failed", "lỗi"),
                ("skipped", "bỏ qua (đã hủy đăng ký hoặc không được phép gửi)"),
                ("unknown", "không rõ (đang gửi khi dịch vụ dừng)"),
            )
        ]
        lines += [f"- {label}: {n(count)}" for label, count in extra if count]
        per_channel = await self.bstore.channel_counts(broadcast_id)
        if len(per_channel) > 1:
            lines.append("Theo kênh (đã gửi/người nhận): " + ", ".join(
                f"{CHANNEL_LABELS.get(ch, ch)} {n(cc.get('sent', 0))}/{n(sum(cc.values()))}"
                for ch, cc in sorted(per_channel.items())))
        if row.error:
            lines.append(f"Ghi chú: {row.error}")
        await self._tell_staff("\n".join(lines))

    async def _report_missed(self, broadcast_id: int) -> None:
        if not await self.bstore.claim_report(broadcast_id):
            return
        row = await self.bstore.get(broadcast_id)
        if row is None:
            return
        hours = self.grace.total_seconds() / 3600
        await self._tell_staff(
            f"⚠️ Tin #{row.id} ({self._label(row)}) dự kiến gửi lúc {self.broadcasts.local(row.send_at)} "
            "đã bị lỡ: "
            f"dịch vụ ngừng quá {hours:g} giờ nên tin không được gửi. Nếu vẫn cần, hãy tạo lại tin "
            f"(/guitin hoặc chonnghe broadcast create)."
        )
