"""Broadcast dispatch benchmark: `python -m benchmarks.bench_dispatch [--quick] [--only NAME]`.

Runs the real dispatcher (outbox claims, group-committed results, the shared rate limiter, Outbound)
against a fake Bot API server in another process on loopback, and prints figures for
docs/benchmarks.md "## Broadcasts":

  fast-sqlite / fast-postgres  server allows 1,000 msg/s, bot at CHONNGHE_TELEGRAM_RATE=1000:
                               20,000 recipients; target >= 950 msg/s sustained
  default-30                   server allows 30 msg/s, bot at the default 30/s; target >= 29 msg/s, no 429
  memory-100k                  100,000 recipients; target: RSS under 200 MB throughout
  two-workers                  two processes on PostgreSQL share one broadcast; target: no duplicates

`--jitter stall:100:300` (or delay / bunch, or `gc`): the server counts requests by their arrival,
with its garbage collector on, and 0-100 ms of injected jitter about every 300 requests; the table
shows the jitter next to the rate. Target with jitter: no 429 (issue 15).

The server is tests/fakes/telegram_api.py (standalone, its sliding one-second rate limit). The sender
is the project's Telegram channel (python-telegram-bot over its aiohttp transport); `--sender http`
uses a bare aiohttp client instead, to see the dispatcher's own ceiling. PostgreSQL runs need
CHONNGHE_BENCH_PG_URL or CHONNGHE_TEST_DATABASE_URL (a scratch database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import sqlalchemy as sa

from bot.clock import SystemClock
from bot.outbound import Outbound
from bot.storage.db import create_engine, migrate
from bot.storage.models import Subscription, User
from bot.storage.repo import Store
from scheduler.dispatcher import Dispatcher
from scheduler.ratelimit import RateLimiter
from scheduler.store import BroadcastStore
from tests.fakes.telegram_server import TOKEN, FakeServer, HttpSender

ROOT = Path(__file__).resolve().parent.parent


# The fake Bot API server in its own process (FakeServer) and the bare aiohttp sender (HttpSender) live in
# tests/fakes/telegram_server.py, shared with the tests that kill a dispatcher mid-way.


async def make_adapter(base_url: str, connections: int, sender: str):
    """The project's Telegram channel (python-telegram-bot over its aiohttp transport), or with
    sender="http" a plain aiohttp client (to see what the dispatcher alone can do)."""
    if sender == "http":
        return HttpSender(base_url, connections)
    from bot.channels.telegram import TelegramChannel
    from bot.config import Settings

    settings = Settings.load(telegram_token=TOKEN, telegram_api_url=f"{base_url}/bot", _env_file=None)
    channel = TelegramChannel(settings, None, None, connection_limit=connections)  # type: ignore[arg-type]
    for request in channel._requests:
        await request.initialize()
    channel.kind = "bot.channels.telegram (python-telegram-bot, aiohttp transport)"
    return channel


async def stop_adapter(adapter) -> None:
    close = getattr(adapter, "close", None)
    await (close() if close is not None else adapter.stop())


# --- one run ------------------------------------------------------------------------------------


async def seed(store: Store, count: int, topic: str = "tuyen_sinh") -> None:
    now = datetime.now(UTC)
    chunk = 5000
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        async with store.session() as s:
            ids = (
                (
                    await s.execute(
                        sa.insert(User).returning(User.id),
                        [
                            {
                                "channel": "telegram",
                                "platform_id": str(100000 + start + i),
                                "created_at": now,
                                "last_seen_at": now,
                                "active": True,
                                "consent": "accepted",
                            }
                            for i in range(n)
                        ],
                    )
                )
                .scalars()
                .all()
            )
            await s.execute(sa.insert(Subscription), [
                {"user_id": uid, "topic": topic, "channel": "telegram", "active": True, "created_at": now,
                 "updated_at": now} for uid in ids])


async def start_broadcast(store: Store) -> int:
    bstore = BroadcastStore(store)
    row = await bstore.create(text="Mùa tuyển sinh giáo dục nghề nghiệp đã mở. " * 3, topics=["tuyen_sinh"],
                              status="scheduled", send_at=store.clock.now())
    await bstore.start_sending(row.id)
    return row.id


async def dispatch(db_url: str, server_url: str, rate: float, concurrency: int, bid: int,
                   rss: list[float] | None = None, sender: str = "telegram") -> dict:
    """Run a dispatcher until broadcast `bid` is finished; returns what it did."""
    engine = create_engine(db_url)
    store = Store(engine, SystemClock())
    bstore = BroadcastStore(store)
    # As the scheduler service does at start: on SQLite (one process) rows left 'sending' by a
    # killed predecessor become 'unknown'; on PostgreSQL only rows whose lease ran out.
    await bstore.reap(everything=not bstore.is_postgres)
    adapter = await make_adapter(server_url, concurrency + 8, sender)
    outbound = Outbound(store, RateLimiter({"telegram": rate}, bulk_concurrency=concurrency))
    outbound.register(adapter)
    done = asyncio.Event()

    async def finished(_bid: int, _status: str) -> None:
        done.set()

    d = Dispatcher(
        bstore, outbound, store.clock, concurrency=concurrency, poll_interval=0.2, on_finished=finished
    )
    if os.environ.get("BENCH_NO_SETTLE") != "1":
        # As `chonnghe serve` does after start-up (bot.app.settle): what start-up built is moved out of
        # the garbage collector's way, or full collections stall the event loop while requests wait.
        from bot.app import settle

        settle()
    proc = psutil.Process()
    sampler = None
    if rss is not None:
        async def sample():
            while True:
                rss.append(proc.memory_info().rss / 2**20)
                await asyncio.sleep(0.5)
        sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    await d.start()
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), 1.0)
        except TimeoutError:
            if (await bstore.get(bid)).status != "sending":
                break
    elapsed = time.perf_counter() - t0
    await d.stop()
    if sampler:
        sampler.cancel()
    counts = await bstore.counts(bid)
    await stop_adapter(adapter)
    await engine.dispose()
    return {"elapsed": elapsed, "sent_here": d.sent, "counts": counts, "flushes": d.writer.flushes,
            "sender": adapter.kind}


class Database:
    """A scratch database: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""

    def __init__(self, backend: str):
        self.backend = backend
        self.url = ""
        self._tmp = None
        self._pg_name = None

    async def __aenter__(self) -> str:
        if self.backend == "sqlite":
            self._tmp = tempfile.TemporaryDirectory()
            self.url = f"sqlite+aiosqlite:///{self._tmp.name}/bench.db"
        else:
            base = os.environ.get("CHONNGHE_BENCH_PG_URL") or os.environ.get("CHONNGHE_TEST_DATABASE_URL")
            if not base:
                raise RuntimeError("set CHONNGHE_BENCH_PG_URL for the PostgreSQL runs")
            url = sa.engine.make_url(base).set(drivername="postgresql+asyncpg")
            self._admin_url = url.render_as_string(hide_password=False)
            self._pg_name = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(self._admin_url)
            async with admin.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text(f'CREATE DATABASE "{self._pg_name}"'))
            await admin.dispose()
            self.url = url.set(database=self._pg_name).render_as_string(hide_password=False)
        engine = create_engine(self.url)
        await migrate(engine)
        await engine.dispose()
        return self.url

    async def __aexit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        if self._pg_name:
            admin = create_engine(self._admin_url)
            async with admin.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
            await admin.dispose()


async def scenario(name: str, backend: str, recipients: int, server_rate: float | None, bot_rate: float,
                   concurrency: int, workers: int = 1, memory: bool = False, sender: str = "telegram",
                   jitter: str | None = None) -> dict:
    # With jitter: a server that counts arrivals, its garbage collector on, and the injected jitter.
    server = FakeServer(server_rate, arrival_window=bool(jitter), gc=bool(jitter),
                        jitter=jitter if jitter and jitter != "gc" else None)
    try:
        await server.start()
        async with Database(backend) as url:
            engine = create_engine(url)
            store = Store(engine, SystemClock())
            await seed(store, recipients)
            bid = await start_broadcast(store)
            await engine.dispose()
            rss: list[float] = []
            if workers == 1:
                result = await dispatch(
                    url, server.url, bot_rate, concurrency, bid, rss if memory else None, sender
                )
                per_worker = [result["sent_here"]]
            else:
                # Each process has its own limiter, so each gets its share of the platform's rate.
                cmd = [sys.executable, "-m", "benchmarks.bench_dispatch", "--worker", url, server.url,
                       str(bot_rate / workers), str(concurrency), str(bid), sender]
                t0 = time.perf_counter()
                procs = [await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, cwd=ROOT)
                         for _ in range(workers)]
                outs = [json.loads((await p.communicate())[0]) for p in procs]
                result = {"elapsed": time.perf_counter() - t0, "sender": outs[0]["sender"]}
                per_worker = [o["sent_here"] for o in outs]
            sent = await server.sent()
            stats = await server.stats()
            engine = create_engine(url)
            counts = await BroadcastStore(Store(engine)).counts(bid)
            await engine.dispose()
    finally:
        await server.close()
    per_chat = Counter(str(m["chat_id"]) for m in sent)
    times = sorted(m["at"] for m in sent)
    span = times[-1] - times[0] if len(times) > 1 else 0
    return {
        "name": name, "backend": backend, "recipients": recipients, "bot_rate": bot_rate,
        "server_rate": server_rate, "concurrency": concurrency, "workers": workers,
        "received": len(sent), "unique": len(per_chat), "duplicates": sum(n - 1 for n in per_chat.values()),
        "http_429": stats.get("status_counts", {}).get("429", 0),
        "jitter": (("arrival window, GC on" + (f", {stats['jitter']}" if stats.get("jitter") else ""))
                   if jitter else "-"),
        "jitter_events": stats.get("jitter_events", 0), "peak_window": stats.get("peak_window"),
        "counts": counts, "per_worker": per_worker,
        "msg_per_s": round((len(times) - 1) / span, 1) if span else None,
        "wall_s": round(result["elapsed"], 1), "peak_rss_mb": round(max(rss), 1) if rss else None,
        "sender": result["sender"],
    }


SCENARIOS = {
    "fast-sqlite": dict(backend="sqlite", recipients=20_000, server_rate=1000, bot_rate=1000, concurrency=64),
    "fast-postgres": dict(
        backend="postgres", recipients=20_000, server_rate=1000, bot_rate=1000, concurrency=64
    ),
    "default-30": dict(backend="sqlite", recipients=900, server_rate=30, bot_rate=30, concurrency=16),
    "memory-100k": dict(
        backend="sqlite", recipients=100_000, server_rate=1000, bot_rate=1000, concurrency=64, memory=True
    ),
    "two-workers": dict(
        backend="postgres", recipients=20_000, server_rate=1000, bot_rate=1000, concurrency=32, workers=2
    ),
}
QUICK = {
    "fast-sqlite": 5000,
    "fast-postgres": 5000,
    "default-30": 150,
    "memory-100k": 10_000,
    "two-workers": 5000,
}


async def main(args: argparse.Namespace) -> None:
    names = args.only or list(SCENARIOS)
    results = []
    for name in names:
        params = dict(SCENARIOS[name])
        if args.quick:
            params["recipients"] = QUICK[name]
        print(f"running {name} ({params['recipients']:,} recipients) ...", file=sys.stderr, flush=True)
        result = await scenario(name, **params, sender=args.sender, jitter=args.jitter)
        results.append(result)
        print(json.dumps(result, ensure_ascii=False), flush=True)
    print("\n| scenario | server jitter | backend | recipients | received | dup | 429 | msg/s | wall s "
          "| peak RSS MB |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['name']} | {r['jitter']} | {r['backend']} | {r['recipients']:,} | {r['received']:,} | "
              f"{r['duplicates']} | {r['http_429']} | {r['msg_per_s']} | {r['wall_s']} | "
              f"{r['peak_rss_mb'] or '-'} |")


def cli() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        url, server, rate, conc, bid = sys.argv[2:7]
        sender = sys.argv[7] if len(sys.argv) > 7 else "telegram"
        result = asyncio.run(dispatch(url, server, float(rate), int(conc), int(bid), sender=sender))
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument("--only", action="append", choices=list(SCENARIOS))
    parser.add_argument("--jitter", default=None, metavar="MODE[:MAX_MS[:EVERY]]|gc",
                        help="a server that counts arrivals with its garbage collector on, and (MODE: stall, "
                             "delay, bunch) 0-MAX_MS ms of jitter about every EVERY requests; 'gc': no more")
    parser.add_argument("--sender", choices=["telegram", "http"], default="telegram",
                        help="telegram: the project's channel (default); http: a bare aiohttp client")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()

