"""The shared outbound rate limiter (bot.outbound.Limiter): one per process, used by live replies and
broadcasts alike, so a broadcast can never push a channel past the platform's limits.

Limits and where they come from:
- Telegram: about 30 messages per second overall for a bot, up to 1,000/s for bots with paid
  broadcasts (CHONNGHE_TELEGRAM_RATE), and "avoid sending more than one message per second in a
  particular chat ... it works in short bursts" (core.telegram.org/bots/faq, "My bot is hitting limits").
  Bulk sends get at most one message per second per chat; live replies may burst a little.
- Zalo OA and Zalo Bot: CHONNGHE_ZALO_OA_RATE / CHONNGHE_ZALO_BOT_RATE (Zalo publishes no fixed
  figure; its -32 error is mapped to RateLimited by the adapter and pauses the channel here).
- Telegram groups (negative chat ids, e.g. the staff chat): "bots are not able to send more than 20
  messages per minute" in one group (same FAQ entry): at most 20 in any 60 s, live or bulk, on top of
  the per-chat pace.
- In flight: at most CHONNGHE_BROADCAST_CONCURRENCY bulk sends at once; live replies are not counted.
- A 429's retry_after pauses the whole channel (Telegram's limit is per bot, not per chat).

Live replies go first: a waiting live reply takes the next token before any waiting bulk send, so
answers stay fast while a broadcast runs.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

# Called (synchronously) the moment a slot is granted, just before the adapter sends: the dispatcher
# uses it to record the row as in flight at the last possible moment (see scheduler.dispatcher).
ON_GRANT: ContextVar[Callable[[], None] | None] = ContextVar("chonnghe_on_grant", default=None)

# A platform counting "per second" sees our requests after some jitter (event-loop stalls, the
# database thread, the network), which can bunch them closer together than we granted them. Keeping
# every slightly longer window within the limit absorbs that: 15 ms at ordinary rates, 30 ms at high
# rates, where a busy process delays requests more (measured: 15 ms gave occasional 429s at 1,000/s
# with SQLite on 2 cores, 30 ms none). Cost: at most 1.5 % / 3 % below the configured rate.
WINDOW_MARGIN = 0.015
WINDOW_MARGIN_FAST = 0.03
FAST_RATE = 100.0
PER_CHAT_INTERVAL = 1.0  # Telegram: one message per second per chat
PER_CHAT_LIVE_BURST = 3  # "works in short bursts": a reply of two or three messages is not delayed
GROUP_LIMIT = 20  # Telegram: at most 20 messages per minute in one group
GROUP_WINDOW = 60.0


class ChannelGate:
    """Tokens for one channel: an even pace (GCRA, rate per second, a small burst to absorb timer
    overshoot) and a sliding window (never more than floor(rate) grants in any 1.015 s / 1.03 s), with two
    queues so live waiters are served before bulk ones, and a pause for 429s."""

    def __init__(self, name: str, rate: float, time_fn: Callable[[], float] | None = None):
        self.name = name
        self.rate = rate
        self.interval = 1.0 / rate
        self.burst = max(2, math.ceil(rate * 0.01))
        self.cap = max(1, math.floor(rate))
        self.window = 1.0 + (WINDOW_MARGIN_FAST if rate > FAST_RATE else WINDOW_MARGIN)
        self.recent: deque[float] = deque(maxlen=self.cap)
        self.tat = 0.0  # GCRA theoretical arrival time
        self.paused_until = 0.0
        self.live: deque[asyncio.Future] = deque()
        self.bulk: deque[asyncio.Future] = deque()
        self._task: asyncio.Task | None = None
        self._time = time_fn

    def now(self) -> float:
        return self._time() if self._time else asyncio.get_running_loop().time()

    def delay(self, now: float) -> float:
        """Seconds until the next token may be granted."""
        wait = max(0.0, self.paused_until - now, self.tat - (self.burst - 1) * self.interval - now)
        if len(self.recent) == self.cap:
            wait = max(wait, self.recent[0] + self.window - now)
        return wait

    def _take(self, now: float) -> None:
        self.tat = max(self.tat, now) + self.interval
        self.recent.append(now)

    async def acquire(self, live: bool) -> None:
        queue = self.live if live else self.bulk
        ahead = bool(self.live) if live else bool(self.live or self.bulk)
        now = self.now()
        if not ahead and self.delay(now) <= 0:
            self._take(now)
            return
        fut = asyncio.get_running_loop().create_future()
        queue.append(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._grant(), name=f"ratelimit-{self.name}")
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.done():
                fut.cancel()
            try:
                queue.remove(fut)
            except ValueError:
                pass
            raise

    async def _grant(self) -> None:
        while self.live or self.bulk:
            now = self.now()
            wait = self.delay(now)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            queue = self.live if self.live else self.bulk
            fut = queue.popleft()
            if fut.done():  # cancelled while waiting
                continue
            self._take(now)
            fut.set_result(None)

    def pause(self, seconds: float) -> None:
        until = self.now() + max(0.0, seconds)
        if until > self.paused_until:
            self.paused_until = until
            log.warning("channel %s paused for %.1f s (rate limited by the platform)", self.name, seconds)


class RateLimiter:
    """Implements bot.outbound.Limiter. `rates`: messages per second per channel (channels not listed
    are not paced); `per_chat`: channels with Telegram's one-message-per-second-per-chat rule."""

    def __init__(self, rates: dict[str, float], *, bulk_concurrency: int = 16,
                 per_chat: tuple[str, ...] = ("telegram",), time_fn: Callable[[], float] | None = None,
                 sleep_fn: Callable[[float], Awaitable[None]] | None = None):
        self._time = time_fn
        self._sleep = sleep_fn or asyncio.sleep  # per-chat and per-group waits (tests pass a fake)
        self.gates = {name: ChannelGate(name, rate, time_fn) for name, rate in rates.items()}
        self.per_chat = set(per_chat)
        self.bulk_concurrency = bulk_concurrency
        self._bulk = asyncio.Semaphore(bulk_concurrency)
        self._chat_tat: dict[tuple[str, str], float] = {}
        self._group_sent: dict[tuple[str, str], deque[float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls({"telegram": settings.telegram_rate, "zalo_oa": settings.zalo_oa_rate,
                    "zalo_bot": settings.zalo_bot_rate}, bulk_concurrency=settings.broadcast_concurrency)

    def now(self) -> float:
        return self._time() if self._time else asyncio.get_running_loop().time()

    def slot(self, channel: str, chat_id: str, *, bulk: bool) -> AbstractAsyncContextManager[None]:
        return self._slot(channel, chat_id, bulk)

    @asynccontextmanager
    async def _slot(self, channel: str, chat_id: str, bulk: bool) -> AsyncIterator[None]:
        if bulk:
            await self._bulk.acquire()
        try:
            if channel in self.per_chat:
                if chat_id.startswith("-"):  # a group or channel chat on Telegram
                    await self._group_turn(channel, chat_id)
                await self._chat_turn(channel, chat_id, bulk)
            gate = self.gates.get(channel)
            if gate is not None:
                await gate.acquire(live=not bulk)
            hook = ON_GRANT.get()
            if hook is not None:
                hook()
            yield
        finally:
            if bulk:
                self._bulk.release()

    async def _chat_turn(self, channel: str, chat_id: str, bulk: bool) -> None:
        """Reserve this chat's next turn (1 per second; live replies may use a short burst)."""
        key = (channel, chat_id)
        burst = 1 if bulk else PER_CHAT_LIVE_BURST
        while True:
            now = self.now()
            tat = self._chat_tat.get(key, 0.0)
            wait = tat - (burst - 1) * PER_CHAT_INTERVAL - now
            if wait <= 0:
                self._chat_tat[key] = max(tat, now) + PER_CHAT_INTERVAL
                if len(self._chat_tat) > 50_000:
                    self._prune(now)
                return
            await self._sleep(wait)

    async def _group_turn(self, channel: str, chat_id: str) -> None:
        """Reserve a place among the group's last GROUP_LIMIT messages (a sliding 60 s window). Groups
        are few (the staff chat), so one small deque each is cheap."""
        sent = self._group_sent.setdefault((channel, chat_id), deque(maxlen=GROUP_LIMIT))
        while True:
            now = self.now()
            if len(sent) < GROUP_LIMIT or now - sent[0] >= GROUP_WINDOW:
                sent.append(now)
                return
            await self._sleep(sent[0] + GROUP_WINDOW - now)

    def _prune(self, now: float) -> None:
        for key in [k for k, tat in self._chat_tat.items() if tat <= now]:
            del self._chat_tat[key]

    def pause(self, channel: str, seconds: float) -> None:
        gate = self.gates.get(channel)
        if gate is not None:
            gate.pause(seconds)

    def paused_for(self, channel: str) -> float:
        gate = self.gates.get(channel)
        return 0.0 if gate is None else max(0.0, gate.paused_until - gate.now())
