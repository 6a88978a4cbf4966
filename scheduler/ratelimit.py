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
- A 429's retry_after pauses the whole channel (Telegram's limit is per bot, not per chat), for exactly
  that long.

How the per-second limit is kept when requests reach the platform late or bunched (issue 15): the
platform counts our requests in a sliding one-second window by the time they ARRIVE, which is some
unknown moment between the moment we send one and the moment its answer is back (event-loop stalls on
either side, garbage collections, the network). Counting grants by the moment they were granted, with
a fixed margin, only works if that jitter stays under the margin. So each channel counts a request
from its grant until it is answered (in flight), and after that for one second (plus a 2 ms margin)
after its answer came back: the platform cannot have counted it later than that. At most floor(rate)
counted requests at a time. This holds whatever the jitter (a request that stalls for 100 ms is simply
counted 100 ms longer) and costs one round trip per request-second: on loopback 1-2 % below the
configured rate. (Subtracting the least recent round trip, as "distance", was tried and drew 429s on a
loaded machine: in a burst, one request's outward delay and another's return delay are not at their
minimum together, so the least round trip overstates what can be subtracted.) The even pace under the
cap may make up for up to 500 ms of late grants at once (a busy event loop), as the cap, not the
pace, is what keeps the limit. Measured in benchmarks/bench_dispatch.py (`--jitter`), recorded in
docs/benchmarks.md, "Rate limit and jitter".

Live replies go first: a waiting live reply takes the next token before any waiting bulk send, so
answers stay fast while a broadcast runs.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from bot.clock import SystemClock, Ticker

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

# Called (synchronously) the moment a slot is granted, just before the adapter sends: the dispatcher
# uses it to record the row as in flight at the last possible moment (see scheduler.dispatcher).
ON_GRANT: ContextVar[Callable[[], None] | None] = ContextVar("chonnghe_on_grant", default=None)

WINDOW = 1.0  # the platform's "per second"
WINDOW_MARGIN = 0.002  # timer granularity
CATCH_UP = 0.5  # seconds of pace late grants may make up for at once (GCRA burst), within the cap
PER_CHAT_INTERVAL = 1.0  # Telegram: one message per second per chat
PER_CHAT_LIVE_BURST = 3  # "works in short bursts": a reply of two or three messages is not delayed
GROUP_LIMIT = 20  # Telegram: at most 20 messages per minute in one group
GROUP_WINDOW = 60.0


class ChannelGate:
    """Tokens for one channel: an even pace (GCRA, rate per second, with a burst of CATCH_UP seconds'
    worth, so a grant that came late because the event loop was busy or no sender was waiting is made
    up for instead of lost) under a cap of floor(rate) requests counted at a time (in flight, or
    answered less than a second ago: see the module docstring), with two
    queues so live waiters are served before bulk ones, and a pause for 429s. `acquire` returns the
    grant's time, to be handed back to `release` when the request is answered (or failed)."""

    def __init__(self, name: str, rate: float, clock: Ticker | None = None):
        self.name = name
        self.rate = rate
        self.interval = 1.0 / rate
        self.burst = max(2, math.ceil(rate * CATCH_UP) + 1)
        self.cap = max(1, math.floor(rate))
        self.in_flight = 0
        self.expiries: list[float] = []  # a heap: when each answered request leaves the platform's window
        self.tat = 0.0  # GCRA theoretical arrival time
        self.paused_until = 0.0
        self.live: deque[asyncio.Future[float]] = deque()
        self.bulk: deque[asyncio.Future[float]] = deque()
        self._task: asyncio.Task | None = None
        self._freed: asyncio.Future[None] | None = None
        self.clock: Ticker = clock or SystemClock()

    def now(self) -> float:
        """The clock's monotonic time, in seconds."""
        return self.clock.monotonic()

    def counted(self, now: float) -> int:
        """Requests the platform may still count in its window: in flight, or answered recently."""
        while self.expiries and self.expiries[0] <= now:
            heapq.heappop(self.expiries)
        return self.in_flight + len(self.expiries)

    def delay(self, now: float) -> float:
        """Seconds until the next token may be granted (inf: when a request in flight is answered)."""
        wait = max(0.0, self.paused_until - now, self.tat - (self.burst - 1) * self.interval - now)
        if self.counted(now) >= self.cap:
            wait = max(wait, self.expiries[0] - now if self.expiries else math.inf)
        return wait

    def _take(self, now: float) -> float:
        self.tat = max(self.tat, now) + self.interval
        self.in_flight += 1
        return now

    def release(self, granted_at: float, *, answered: bool = True) -> None:
        """The request granted at `granted_at` is over (answered, failed, or cancelled before it went
        out: `answered=False`, counted the same). The platform counted it no later than now, and counts
        any later request no earlier than that request's grant: it stays counted for a window from now."""
        now = self.now()
        self.in_flight -= 1
        heapq.heappush(self.expiries, max(now, granted_at) + WINDOW + WINDOW_MARGIN)
        if self._freed is not None and not self._freed.done():
            self._freed.set_result(None)

    async def acquire(self, live: bool) -> float:
        """Wait for a token; returns the grant's time, for `release`."""
        queue = self.live if live else self.bulk
        ahead = bool(self.live) if live else bool(self.live or self.bulk)
        now = self.now()
        if not ahead and self.delay(now) <= 0:
            return self._take(now)
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        queue.append(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._grant(), name=f"ratelimit-{self.name}")
        try:
            return await fut
        except asyncio.CancelledError:
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():  # granted, but the waiter was cancelled before it could send
                self.release(fut.result(), answered=False)
            try:
                queue.remove(fut)
            except ValueError:
                pass
            raise

    async def _grant(self) -> None:
        while self.live or self.bulk:
            now = self.now()
            wait = self.delay(now)
            if wait == math.inf:  # every counted request is in flight: wait for an answer
                self._freed = asyncio.get_running_loop().create_future()
                await self._freed
                continue
            if wait > 0:
                await self.clock.sleep(wait)
                continue
            queue = self.live if self.live else self.bulk
            fut = queue.popleft()
            if fut.done():  # cancelled while waiting
                continue
            fut.set_result(self._take(now))

    def pause(self, seconds: float) -> None:
        """Grant nothing for `seconds` from now (an earlier, longer pause is kept)."""
        until = self.now() + max(0.0, seconds)
        if until > self.paused_until:
            self.paused_until = until
            log.warning("channel %s paused for %.1f s (rate limited by the platform)", self.name, seconds)


class RateLimiter:
    """Implements bot.outbound.Limiter. `rates`: messages per second per channel (channels not listed
    are not paced); `per_chat`: channels with Telegram's one-message-per-second-per-chat rule."""

    def __init__(self, rates: dict[str, float], *, bulk_concurrency: int = 16,
                 per_chat: tuple[str, ...] = ("telegram",), clock: Ticker | None = None):
        self.clock: Ticker = clock or SystemClock()  # tests pass a bot.clock.FakeClock and move time
        self.gates = {name: ChannelGate(name, rate, self.clock) for name, rate in rates.items()}
        self.per_chat = set(per_chat)
        self.bulk_concurrency = bulk_concurrency
        self._bulk = asyncio.Semaphore(bulk_concurrency)
        self._chat_tat: dict[tuple[str, str], float] = {}
        self._group_sent: dict[tuple[str, str], deque[float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """A limiter with the configured per-channel rates and broadcast concurrency."""
        return cls({"telegram": settings.telegram_rate, "zalo_oa": settings.zalo_oa_rate,
                    "zalo_bot": settings.zalo_bot_rate}, bulk_concurrency=settings.broadcast_concurrency)

    def now(self) -> float:
        """The clock's monotonic time, in seconds."""
        return self.clock.monotonic()

    def slot(self, channel: str, chat_id: str, *, bulk: bool) -> AbstractAsyncContextManager[None]:
        """Wait for permission to send one message on `channel` to `chat_id` (bulk: a broadcast's)."""
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
            granted_at = None if gate is None else await gate.acquire(live=not bulk)
            try:
                hook = ON_GRANT.get()
                if hook is not None:
                    hook()
                yield
            finally:
                if gate is not None and granted_at is not None:
                    gate.release(granted_at)
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
            await self.clock.sleep(wait)

    async def _group_turn(self, channel: str, chat_id: str) -> None:
        """Reserve a place among the group's last GROUP_LIMIT messages (a sliding 60 s window). Groups
        are few (the staff chat), so one small deque each is cheap."""
        sent = self._group_sent.setdefault((channel, chat_id), deque(maxlen=GROUP_LIMIT))
        while True:
            now = self.now()
            if len(sent) < GROUP_LIMIT or now - sent[0] >= GROUP_WINDOW:
                sent.append(now)
                return
            await self.clock.sleep(sent[0] + GROUP_WINDOW - now)

    def _prune(self, now: float) -> None:
        for key in [k for k, tat in self._chat_tat.items() if tat <= now]:
            del self._chat_tat[key]

    def pause(self, channel: str, seconds: float) -> None:
        """Stop all sends on `channel` for `seconds` (a 429's retry_after)."""
        gate = self.gates.get(channel)
        if gate is not None:
            gate.pause(seconds)

    def paused_for(self, channel: str) -> float:
        """Seconds left of `channel`'s pause; 0 when it is not paused or not paced."""
        gate = self.gates.get(channel)
        return 0.0 if gate is None else max(0.0, gate.paused_until - gate.now())
