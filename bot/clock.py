"""The injected clock: scheduling and storage take `now` from here, so tests move time instead of sleeping."""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What gives the time: `now()`, timezone-aware UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class Ticker(Protocol):
    """A monotonic clock in seconds with a sleep on it: what paces and waits (the rate limiter) take, so
    their tests move time instead of sleeping. SystemClock and FakeClock are both tickers."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (only differences mean anything)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""


class SystemClock:
    """The real clock (time and waits), what the app runs on."""

    def now(self) -> datetime:
        """datetime.now(UTC)."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """time.monotonic(), the clock asyncio's default event loop runs on (loop.time())."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """asyncio.sleep."""
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock tests set and advance by hand. As a Ticker, it runs virtual time: `sleep` waits until
    every task that can run has reached its next wait, then time jumps to the earliest sleeper's
    deadline and that sleeper wakes (a chain of more than SETTLE_YIELDS hops between two waits finds
    the clock moved on, as if the event loop had been late; never early)."""

    SETTLE_YIELDS = 12

    def __init__(self, start: datetime, monotonic_start: float = 1000.0):
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start
        self._mono = monotonic_start  # kept as a float: timedelta rounds to microseconds
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._driver: asyncio.Task | None = None

    def now(self) -> datetime:
        """The time the test set."""
        return self._now

    def monotonic(self) -> float:
        """Seconds on the virtual monotonic clock (moves with set, advance and sleep)."""
        return self._mono

    def set(self, when: datetime) -> None:
        """Jump to `when` (the monotonic clock moves forward only)."""
        forward = (when - self._now).total_seconds()
        if forward > 0:
            self._mono += forward
        self._now = when

    def advance(self, **kwargs: float) -> None:
        """Move the time by a timedelta's keyword arguments (hours=1, minutes=30, ...)."""
        step = timedelta(**kwargs)
        self._now += step
        self._mono += max(0.0, step.total_seconds())

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time (no wall-clock time passes)."""
        loop = asyncio.get_running_loop()
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        # At least one step of the float, so a sleeper that is a rounding error early progresses.
        deadline = max(self._mono + seconds, math.nextafter(self._mono, math.inf))
        fut: asyncio.Future[None] = loop.create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (deadline, self._seq, fut))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive(), name="fake-clock")
        await fut

    async def _drive(self) -> None:
        while self._sleepers:
            for _ in range(self.SETTLE_YIELDS):
                await asyncio.sleep(0)
            deadline, _, fut = heapq.heappop(self._sleepers)
            if fut.done():  # cancelled
                continue
            if deadline > self._mono:
                self._now += timedelta(seconds=deadline - self._mono)
                self._mono = deadline
            fut.set_result(None)
