"""A ticker (bot.clock.Ticker) that counts every wait by the name of the task that made it.

For code whose work is real I/O (the dispatcher), virtual time would run ahead while a query is on
the wire; this ticker keeps the waits real and lets a test wait for "the feed has polled twice more"
instead of sleeping a guessed while and hoping the background task got its turn.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from bot.clock import SystemClock


class RecordingTicker:
    """Real waits (SystemClock), counted per task name; `waits()` returns when a count is reached."""

    def __init__(self) -> None:
        self._real = SystemClock()
        self.counts: Counter[str] = Counter()
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        """The system's monotonic clock."""
        return self._real.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Count this wait under the current task's name, then wait `seconds` for real."""
        task = asyncio.current_task()
        name = task.get_name() if task is not None else ""
        self.counts[name] += 1
        for waiter in [w for w in self._waiters if w[0] == name and self.counts[name] >= w[1]]:
            self._waiters.remove(waiter)
            if not waiter[2].done():
                waiter[2].set_result(None)
        await self._real.sleep(seconds)

    async def waits(self, task: str, count: int, limit: float = 10.0) -> None:
        """Return once tasks named `task` have begun `count` waits in all (fail after `limit` seconds)."""
        if self.counts[task] >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((task, count, future))
        async with asyncio.timeout(limit):
            await future

    async def more(self, task: str, extra: int = 2, limit: float = 10.0) -> None:
        """Return once `task` has begun `extra` more waits than now. Two more waits mean one whole
        round of its loop ran after this call (the first may end a round that was already under way)."""
        await self.waits(task, self.counts[task] + extra, limit)
