"""Web chat benchmark: `python -m benchmarks.bench_web [--visitors N] [--rate R] [--questions Q]
[--subscribers S]`.

`chonnghe serve` runs as its own process with its defaults (SQLite in a temporary folder, the shipped
content, CHONNGHE_HTTP_PORT=0, CHONNGHE_QUIET_HOURS empty so the run does not depend on the hour). This
process plays the visitors over real WebSockets on loopback. Figures for docs/benchmarks.md, "## Web":

  conversation  1,000 visitors connect (each greeted: /start's two messages, from the mailbox) and
                answer "Bạn là ai?" with a button, then 5,000 questions are offered at a steady 300 per
                second (each visitor one question every 3.3 s, within the per-visitor limit of 1/s);
                latency = question sent -> the bot's answer received; target p99 < 50 ms. The visitors
                come from 100 loopback addresses (127.0.0.2-101: 10 each), inside the default
                per-address limits; CHONNGHE_HTTP_MAX_CONNECTIONS is raised to visitors + 64 when the
                default total (4,096 connections) is less.
  memory        the serve process's RSS before the visitors connect and with all 1,000 connected and idle
                (after their greeting): the difference per connection.
  broadcast     20,000 web subscribers (made directly in the database), one broadcast to them created with
                `chonnghe broadcast create --channel web`; rate = deliveries / (last sent_at - first
                sent_at), from the deliveries table; every mailbox holds it exactly once. Target >= 2,000/s.
  mailbox       (only with --only mailbox) the web adapter's part of that broadcast alone, in this process:
                WebChannel.send to 20,000 visitors, --concurrency at once, no dispatcher: what the mailbox
                writes allow, next to what the whole path reaches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
ADDRESSES = 100
DEFLATE = int(os.environ.get("BENCH_DEFLATE", "15"))  # 0: a client that offers no compression


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Serve:
    """`chonnghe serve` in its own process; the port is read from its log."""

    def __init__(self, db: Path, log: Path, **settings: str):
        self.db, self.log_path, self.settings = db, log, settings
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def __aenter__(self) -> Serve:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHONNGHE_")}
        env.update({"CHONNGHE_DATABASE_URL": f"sqlite:///{self.db}", "CHONNGHE_HTTP_PORT": "0",
                    "CHONNGHE_QUIET_HOURS": "", "CHONNGHE_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)})
        env.update({f"CHONNGHE_{k.upper()}": v for k, v in self.settings.items()})
        self.env = env
        with open(self.log_path, "ab") as out:  # noqa: ASYNC230 - the child inherits it
            profile = os.environ.get("BENCH_PROFILE")  # BENCH_PROFILE=FILE: a cProfile of the serve process
            prefix = ["-m", "cProfile", "-o", profile] if profile else []
            self.proc = await asyncio.create_subprocess_exec(sys.executable, *prefix, "-m", "bot", "serve",
                                                             cwd=ROOT, env=env, stdout=out, stderr=out)
        async with asyncio.timeout(60):
            while not self.port:
                await asyncio.sleep(0.2)
                found = re.search(r"HTTP server on [\d.]+:(\d+)", self.log_path.read_text("utf-8", "replace"))
                if found:
                    self.port = int(found.group(1))
                if self.proc.returncode is not None:
                    raise RuntimeError("serve exited:\n" + self.log_path.read_text())
        await asyncio.sleep(0.5)  # channels and scheduler start right after the HTTP server
        return self

    def cpu(self) -> float:
        """CPU seconds (user + system) the serve process used so far."""
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss

    async def cli(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT,
                                                    env=self.env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"chonnghe {' '.join(args)} failed: {err.decode()}")
        return out.decode()

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 60)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Visitor:
    """One page: a WebSocket, the time its pending question was sent, and its latencies."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.greeted = asyncio.Event()
        self.introduced = asyncio.Event()
        self.who_id = 0
        self.bot_messages = 0
        self.refused = 0
        self.sent_at: float | None = None
        self.latencies: list[float]
        self.reader: asyncio.Task | None = None

    async def read(self, latencies: list[float]) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if '"t": "refused"' in data:  # slowed down (never at this pace): counted, not timed
                self.refused += 1
                self.sent_at = None
                continue
            if '"t": "m"' not in data or '"from": "bot"' not in data:
                continue
            now = time.perf_counter()
            self.bot_messages += 1
            if self.bot_messages == 2:  # "Bạn là ai?" with the role buttons
                self.who_id = json.loads(data)["id"]
                self.greeted.set()
            elif self.bot_messages == 3:  # the answer to the role pressed
                self.introduced.set()
            if self.sent_at is not None:
                latencies.append((now - self.sent_at) * 1000)
                self.sent_at = None


async def conversation(serve: Serve, visitors: int, rate: float, questions: int) -> dict:
    from benchmarks.bench_telegram import question_pool

    pool = question_pool(ROOT / "content")
    url = f"http://127.0.0.1:{serve.port}/web/ws"
    origin = f"http://127.0.0.1:{serve.port}"
    sessions = [aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{2 + i}", 0), limit=0))
                for i in range(ADDRESSES)]
    latencies: list[float] = []
    crowd: list[Visitor] = []
    try:
        await asyncio.sleep(1.0)
        rss_before = serve.rss()
        began = time.perf_counter()

        async def join(n: int) -> Visitor:
            # compress=15: offer permessage-deflate as browsers do (aiohttp's client does not by default)
            ws = await sessions[n % ADDRESSES].ws_connect(url, headers={"Origin": origin}, heartbeat=None,
                                                          compress=DEFLATE)
            visitor = Visitor(ws)
            visitor.reader = asyncio.create_task(visitor.read(latencies))
            await ws.send_str(json.dumps({"t": "hello", "after": 0, "token": None}))
            return visitor

        for start in range(0, visitors, 100):  # connect in waves of 100
            crowd.extend(await asyncio.gather(*(join(n) for n in range(start, min(visitors, start + 100)))))
        async with asyncio.timeout(120):
            await asyncio.gather(*(v.greeted.wait() for v in crowd))
        connected_s = time.perf_counter() - began
        # Each visitor answers "Bạn là ai?" (Phụ huynh), as people do before asking: the measured questions
        # are then questions, not the end of onboarding.
        for n, visitor in enumerate(crowd):
            await visitor.ws.send_str(json.dumps({"t": "press", "id": visitor.who_id, "i": 2}))
            if n % 100 == 99:
                await asyncio.sleep(0.5)
        async with asyncio.timeout(120):
            await asyncio.gather(*(v.introduced.wait() for v in crowd))
        idle_from = serve.cpu()
        await asyncio.sleep(3.0)  # idle
        rss_idle, idle_cpu = serve.rss(), serve.cpu() - idle_from

        # Offer `questions` at a steady `rate`, round-robin over the visitors.
        print(f"bench_web: {visitors} visitors idle, RSS {rss_idle / 2**20:.1f} MB; questions start "
              f"(serve pid {serve.proc.pid})", file=sys.stderr, flush=True)  # a sampling profiler may attach
        latencies.clear()
        cpu_before, own_before = serve.cpu(), time.process_time()
        t0 = time.perf_counter() + 0.2
        late = 0
        for k in range(questions):
            due = t0 + k / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.05:
                late += 1
            visitor = crowd[k % visitors]
            if visitor.sent_at is not None:
                continue  # still waiting for its previous answer (never at this pace unless the bot stalls)
            visitor.sent_at = time.perf_counter()
            await visitor.ws.send_str(json.dumps({"t": "msg", "text": pool[k % len(pool)], "cid": f"q{k}"},
                                                 ensure_ascii=False))
        offered_s = time.perf_counter() - t0
        async with asyncio.timeout(30):
            while any(v.sent_at is not None for v in crowd):  # noqa: ASYNC110 - a benchmark's last answers
                await asyncio.sleep(0.05)
        cpu_used, own_used = serve.cpu() - cpu_before, time.process_time() - own_before
        return {
            "visitors": visitors, "connect_and_greet_s": round(connected_s, 2),
            "rss_before_mb": round(rss_before / 2**20, 1), "rss_idle_mb": round(rss_idle / 2**20, 1),
            "kb_per_idle_connection": round((rss_idle - rss_before) / visitors / 1024, 1),
            "idle_serve_cpu_ms_per_s": round(idle_cpu * 1000 / 3.0, 1),  # the 1,000 open, idle chats
            "questions": len(latencies), "refused": sum(v.refused for v in crowd),
            "offered_rate": round(questions / offered_s, 1), "late_sends": late,
            "p50_ms": round(pct(latencies, 50), 1), "p90_ms": round(pct(latencies, 90), 1),
            "p99_ms": round(pct(latencies, 99), 1), "max_ms": round(max(latencies), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "serve_cpu_ms_per_question": round(cpu_used * 1000 / max(1, len(latencies)), 2),
            # the visitors' side (this process), to tell whether the client kept up
            "bench_cpu_ms_per_question": round(own_used * 1000 / max(1, len(latencies)), 2),
        }
    finally:
        for visitor in crowd:
            await visitor.ws.close()
        for session in sessions:
            await session.close()


async def make_subscribers(db: Path, count: int) -> None:
    """`count` web visitors subscribed to tuyen_sinh, written straight into a migrated database."""
    import sqlalchemy as sa

    from bot.storage.db import create_engine, migrate
    from bot.storage.models import Subscription, User

    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for start in range(0, count, 5000):
            rows = [{"channel": "web", "platform_id": f"bench{n:06d}AAAAAAAAAA", "consent": "accepted",
                     "role": "phu_huynh", "active": True, "created_at": now, "last_seen_at": now}
                    for n in range(start, min(count, start + 5000))]
            await conn.execute(sa.insert(User.__table__), rows)
        ids = (await conn.execute(sa.select(User.__table__.c.id)
                                  .where(User.__table__.c.channel == "web"))).scalars()
        subs = [{"user_id": uid, "topic": "tuyen_sinh", "active": True, "channel": "web", "created_at": now,
                 "updated_at": now} for uid in ids]
        for start in range(0, len(subs), 5000):
            await conn.execute(sa.insert(Subscription.__table__), subs[start:start + 5000])
    await engine.dispose()


async def broadcast(tmp: Path, count: int, concurrency: int) -> dict:
    import sqlalchemy as sa

    from bot.storage.db import create_engine

    db = tmp / "broadcast.db"
    await make_subscribers(db, count)
    async with Serve(db, tmp / "serve-broadcast.log", broadcast_concurrency=str(concurrency)) as serve:
        out = await serve.cli("broadcast", "create", "--topic", "tuyen_sinh", "--channel", "web",
                              "--text", "Thông báo tuyển sinh: ngày hội tư vấn tại trường (bản thử).")
        broadcast_id = int(out.split()[0])
        print(f"bench_web: broadcast {broadcast_id} created (serve pid {serve.proc.pid})", file=sys.stderr,
              flush=True)  # a sampling profiler may attach
        began = time.perf_counter()
        async with asyncio.timeout(600):
            while True:
                shown = json.loads(await serve.cli("broadcast", "show", str(broadcast_id), "--json"))
                if shown["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(1.0)
        wall = time.perf_counter() - began
        peak = serve.rss()
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    async with engine.connect() as conn:
        first, last, sent = (await conn.execute(sa.text(
            "SELECT min(sent_at), max(sent_at), count(*) FROM deliveries WHERE status = 'sent'"))).one()
        boxes, letters = (await conn.execute(sa.text(
            "SELECT count(DISTINCT visitor), count(*) FROM web_messages"))).one()
    await engine.dispose()
    span = (datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(first))).total_seconds()
    return {"subscribers": count, "concurrency": concurrency, "status": shown["status"], "sent": sent,
            "mailboxes": boxes, "letters": letters,
            "rate_per_s": round(sent / span, 1) if span > 0 else None, "send_span_s": round(span, 2),
            "wall_s_incl_start_and_polling": round(wall, 1), "rss_mb": round(peak / 2**20, 1)}


async def mailbox_only(tmp: Path, count: int, concurrency: int) -> dict:
    """The web adapter's side of a broadcast alone, in this process: `WebChannel.send` of one message to
    `count` visitors (no page open), `concurrency` at once, on a migrated SQLite file; no dispatcher."""
    from bot.channels.web import WebChannel
    from bot.config import Settings
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store
    from bot.types import Reply

    url = f"sqlite+aiosqlite:///{tmp / 'mailbox.db'}"
    engine = create_engine(url)
    await migrate(engine)
    settings = Settings.load(_env_file=None, database_url=url)
    channel = WebChannel(settings, Store(engine), inbox=None, secret="bench" * 8)  # type: ignore[arg-type]
    reply = Reply("Thông báo tuyển sinh: ngày hội tư vấn tại trường (bản thử).")
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await channel.send(f"bench{n:06d}AAAAAAAAAA", reply)

    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    stored = await channel.mailbox.count()
    await channel.close()
    await engine.dispose()
    return {"sends": count, "concurrency": concurrency, "stored": stored,
            "rate_per_s": round(count / wall, 1), "cpu_us_per_send": round(cpu * 1e6 / count, 1)}


async def bench(args: argparse.Namespace) -> dict:
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        tmp = Path(os.environ.get("BENCH_KEEP") or folder)  # BENCH_KEEP=DIR keeps the databases and logs
        os.makedirs(tmp, exist_ok=True)
        if args.only in (None, "conversation"):
            # More open chats than the HTTP server's default total cap (bot.httpguard): raised with its
            # documented setting, as a site expecting that many would.
            async with Serve(tmp / "chat.db", tmp / "serve-chat.log",
                             http_max_connections=str(max(4096, args.visitors + 64))) as serve:
                results["conversation"] = await conversation(serve, args.visitors, args.rate, args.questions)
        if args.only in (None, "broadcast"):
            results["broadcast"] = await broadcast(tmp, args.subscribers, args.concurrency)
        if args.only == "mailbox":
            results["mailbox"] = await mailbox_only(tmp, args.subscribers, args.concurrency)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=300.0, help="questions per second offered")
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256,
                        help="CHONNGHE_BROADCAST_CONCURRENCY for the broadcast (default of the service: 16)")
    parser.add_argument("--only", choices=["conversation", "broadcast", "mailbox"],
                        help="mailbox: the web adapter's sends of a broadcast alone, without the dispatcher")
    # benchmarks/__main__.py passes its own arguments to every benchmark: ignore the ones not ours.
    args, _unknown = parser.parse_known_args(argv)
    results = asyncio.run(bench(args))
    for name, figures in results.items():
        print(f"\n{name}:")
        for key, value in figures.items():
            print(f"  {key:32} {value}")
    ok = True
    if "conversation" in results:
        c = results["conversation"]
        met = c["p99_ms"] < 50 and c["questions"] >= args.questions * 0.99
        ok &= met
        print(f"\nconversation: p99 {c['p99_ms']} ms at {c['offered_rate']} msg/s offered "
              f"(target < 50 ms at 300/s): {'met' if met else 'NOT met'}")
    if "broadcast" in results:
        b = results["broadcast"]
        met = bool(b["rate_per_s"] and b["rate_per_s"] >= 2000
                   and b["sent"] == b["subscribers"] == b["mailboxes"] == b["letters"])
        ok &= met
        print(f"broadcast: {b['sent']} mailboxes at {b['rate_per_s']}/s (target >= 2,000/s, each once): "
              f"{'met' if met else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
