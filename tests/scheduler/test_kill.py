"""kill -9 in the middle of a broadcast, then a restart: nobody missed, duplicates at most the
concurrency, every row accounted for. Real processes, a fake Bot API server on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from bot.storage.db import create_engine, migrate
from bot.storage.repo import Store
from scheduler.store import BroadcastStore
from tests.conftest import BACKENDS, ROOT
from tests.fakes.telegram_server import FakeServer
from tests.scheduler.conftest import add_subscribers, deliveries, eventually

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)

RECIPIENTS = 1000
CONCURRENCY = 16
# The worker sends with a bare aiohttp client: the dispatcher's guarantees; tests/test_serve_broadcast.py
# covers the real channel.


async def worker(db_url: str, server_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.scheduler.dispatch_worker", db_url, server_url, "400",
        str(CONCURRENCY), "1", cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL)


async def test_sigkill_mid_way_then_restart(db_url):
    engine = create_engine(db_url)
    await migrate(engine)
    store = Store(engine)
    bstore = BroadcastStore(store)
    await add_subscribers(store, RECIPIENTS)
    row = await bstore.create(text="Tin tuyển sinh", topics=["tuyen_sinh"], status="scheduled",
                              send_at=store.clock.now())
    assert row.id == 1 and await bstore.start_sending(row.id) == RECIPIENTS
    server = FakeServer()
    first = second = None
    try:
        await server.start()
        first = await worker(db_url, server.url)
        await eventually(lambda: _count(server, RECIPIENTS // 3), limit=30)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        killed_at = len(await server.sent())
        assert killed_at < RECIPIENTS, "the kill came too late to test anything"
        if bstore.is_postgres:  # rows of a dead worker wait for their lease to run out
            from sqlalchemy import update

            from bot.storage.models import Delivery
            async with store.session() as s:
                await s.execute(update(Delivery).values(lease_until=store.clock.now()))
        second = await worker(db_url, server.url)
        assert await asyncio.wait_for(second.wait(), 60) == 0
        received = await server.received()
    finally:
        for proc in (first, second):  # a failed test leaves no worker behind
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
        await server.close()
    rows = {pid: status for pid, status, _ in await deliveries(store, row.id)}
    counts = await bstore.counts(row.id)
    status = (await bstore.get(row.id)).status
    await engine.dispose()
    assert status == "done"
    assert sum(counts.values()) == RECIPIENTS and set(counts) <= {"sent", "unknown"}, counts
    assert counts.get("unknown", 0) <= CONCURRENCY
    missed = [pid for pid, st in rows.items() if pid not in received]
    assert missed == [], f"never received: {missed} ({[rows[p] for p in missed]})"
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= CONCURRENCY
    print(f"killed after {killed_at} received; unknown {counts.get('unknown', 0)}, duplicates {duplicates}")


async def _count(server, at_least: int) -> bool:
    return len(await server.sent()) >= at_least
