"""The one retry policy for a send: what the platform's error says decides whether and how long to wait.

Used by live replies (bot.outbound) and by the later pieces of a split reply (bot.channels.base); the
broadcast dispatcher keeps its own schedule in the database instead (a retry there may come minutes
later, after a restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.ports import Deferred, RateLimited, Transient

T = TypeVar("T")


async def retry_send(call: Callable[[], Awaitable[T]], *, attempts: int, longest_wait: float,
                     backoff: float = 0.5, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """Await `call()` up to `attempts` times and return its result.

    RateLimited / Deferred are waited out for their retry_after when that is at most `longest_wait`;
    Transient waits `backoff` seconds, doubling each time. The last failure, a longer wait than
    `longest_wait`, and every other error (Blocked, Skipped, Permanent, a bug) propagate at once."""
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (RateLimited, Deferred) as exc:
            if attempt == attempts or exc.retry_after > longest_wait:
                raise
            await sleep(max(exc.retry_after, 0.0))
        except Transient:
            if attempt == attempts:
                raise
            await sleep(delay)
            delay *= 2
    raise ValueError("attempts must be at least 1")
