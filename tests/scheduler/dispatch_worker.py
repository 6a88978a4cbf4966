"""A dispatcher in its own process, for tests that kill it: `python -m tests.scheduler.dispatch_worker
DB_URL SERVER_URL RATE CONCURRENCY BROADCAST_ID`.

Sends broadcast BROADCAST_ID through a bare aiohttp sender (tests/fakes/telegram_server.py) to the fake
Bot API server at SERVER_URL, as `chonnghe serve` would after a start (rows a dead predecessor left
'sending' are reaped first), and exits 0 once the broadcast is finished.
"""

from __future__ import annotations

import asyncio
import sys

from bot.outbound import Outbound
from bot.storage.db import create_engine
from bot.storage.repo import Store
from scheduler.dispatcher import Dispatcher
from scheduler.ratelimit import RateLimiter
from scheduler.store import BroadcastStore
from tests.fakes.telegram_server import HttpSender


async def run(db_url: str, server_url: str, rate: float, concurrency: int, bid: int) -> None:
    """Dispatch until broadcast `bid` is no longer 'sending'."""
    engine = create_engine(db_url)
    bstore = BroadcastStore(Store(engine))
    # As the scheduler service does at start: on SQLite (one process) rows left 'sending' by a killed
    # predecessor become 'unknown'; on PostgreSQL only rows whose lease ran out.
    await bstore.reap(everything=not bstore.is_postgres)
    sender = HttpSender(server_url, concurrency + 8)
    outbound = Outbound(bstore.store, RateLimiter({"telegram": rate}, bulk_concurrency=concurrency))
    outbound.register(sender)
    done = asyncio.Event()

    async def finished(_bid: int, _status: str) -> None:
        done.set()

    dispatcher = Dispatcher(bstore, outbound, bstore.store.clock, concurrency=concurrency, poll_interval=0.2,
                            on_finished=finished)
    await dispatcher.start()
    try:
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), 1.0)
            except TimeoutError:  # finished by another process: no hook here
                if (await bstore.get(bid)).status != "sending":
                    break
    finally:
        await dispatcher.stop()
        await sender.stop()
        await engine.dispose()


if __name__ == "__main__":
    url, server, rate, conc, broadcast = sys.argv[1:6]
    asyncio.run(run(url, server, float(rate), int(conc), int(broadcast)))
