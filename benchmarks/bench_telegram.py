"""Telegram conversation benchmark: `python -m benchmarks.bench_telegram [--users N] [--transport T]`.

1,000 simulated users each ask 5 questions through a fake Bot API server (no rate limit) to the bot in
polling mode, the whole bot in one process (the real app: storage on SQLite, the answer engine, the
shared rate limiter at CHONNGHE_TELEGRAM_RATE=1000, python-telegram-bot). Figures for
docs/benchmarks.md, "## Telegram conversation":

  throughput  every user asks, waits for the answer, asks again at once: answered messages per second
              (5,000 answers / wall time); target >= 300 msg/s
  latency     the same 5,000 questions offered at a steady --rate (default 300/s, the target load; each
              user at most one question per second, Telegram's per-chat pace): p99 update -> reply;
              target < 100 ms

Latency is measured by the fake server: from the moment it hands an update to the bot (the getUpdates
response) to the moment the reply's sendMessage arrives. The fake server and the simulated users run in
this process; the bot runs in a child process (`--bot`), so they do not share a CPU core with it.
`--transport httpx` runs the bot on python-telegram-bot's default transport, for the before/after figures.

`--jitter MODE[:MAX_MS[:EVERY]]` (MODE stall, delay or bunch; or `gc` for none injected): the fake
server counts sendMessage calls by their arrival against a limit of 1,000/s (the bot's rate) with 0-MAX_MS
ms of jitter about every EVERY requests (tests/fakes/telegram_api.py); the figures name the jitter, and
the 429s it drew (target: none).

Diagnostics (environment): BENCH_TRACE=1 prints where the bot's time goes (dedup, user lookup, handler,
send, event-loop lag, GC pauses); BENCH_PROFILE=FILE writes a cProfile of the bot process;
BENCH_ONLY=latency skips the throughput run; BENCH_NO_SCHEDULER=1 runs the bot without the scheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123:ABC"
BOT_RATE = 1000  # CHONNGHE_TELEGRAM_RATE of the bot under test
QUESTIONS_PER_USER = 5
FIRST_USER = 100_000
UNANSWERABLE = ("máy bay trực thăng giá bao nhiêu", "thời tiết mai thế nào", "cho mình xin số điện thoại",
                "xe buýt số mấy tới chợ", "bóng đá tối nay")


def content_dir(requested: str | None) -> Path:
    if requested:
        return Path(requested)
    real = ROOT / "content"
    try:
        from bot.content.loader import load_content

        if load_content(real).ok and (real / "faq").is_dir():
            return real
    except Exception:
        pass
    return ROOT / "tests" / "fixtures" / "content"


def question_pool(root: Path, seed: int = 7) -> list[str]:
    """Questions people ask: the content's own phrasings (lightly varied) and some it cannot answer."""
    from bot.content.loader import load_content

    base = load_content(root)
    rnd = random.Random(seed)
    pool: list[str] = []
    for entry in base.entries.values():
        for q in entry.questions[:3]:
            pool.append(q if rnd.random() < 0.5 else q.rstrip("?").lower() + " ạ?")
    pool.extend(UNANSWERABLE * max(1, len(pool) // 40))
    rnd.shuffle(pool)
    return pool


# --- the bot, in its own process ---------------------------------------------------------------


async def run_bot(args: argparse.Namespace) -> None:
    import logging

    import bot.app as appmod
    from bot.channels.telegram import TelegramChannel
    from bot.config import Settings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.load(_env_file=None, database_url=args.db, content_dir=args.content, http_port=0,
                             telegram_token=TOKEN, telegram_api_url=args.api_url, telegram_rate=BOT_RATE,
                             log_level="WARNING")
    if args.fake_engine:
        from tests.fakes import FakeHolder

        appmod.ContentHolder = FakeHolder  # type: ignore[misc]
    app = await appmod.build_app(settings)
    if os.environ.get("BENCH_NO_SCHEDULER"):
        app.scheduler = None
    channel = TelegramChannel(settings, app.store, app.conversation, transport=args.transport)
    app.channels["telegram"] = channel
    app.outbound.register(channel)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if os.environ.get("BENCH_TRACE"):
        _trace(app, channel)
    profile = None
    if os.environ.get("BENCH_PROFILE"):  # a cProfile of the bot process, for finding where time goes
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    await appmod.start(app)
    appmod.settle()  # as `chonnghe serve` does
    print("READY", flush=True)
    await stop.wait()
    await appmod.stop(app)
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["BENCH_PROFILE"])


def _trace(app, channel) -> None:
    """BENCH_TRACE=1: where an answer's time goes inside the bot (printed at exit)."""
    import atexit
    import collections

    stages: dict[str, list[float]] = collections.defaultdict(list)
    loop_time = time.perf_counter
    accept, handle, send = channel._accept, app.conversation._handle, channel.send
    dedup = app.store.dedup.first_times
    enter, log_q = app.store.users.enter, app.store.questions.log

    def timed(name, fn):
        async def wrapper(*a, **k):
            t = loop_time()
            try:
                return await fn(*a, **k)
            finally:
                stages[name].append(loop_time() - t)
        return wrapper

    channel._accept = timed("accept(dedup+submit)", accept)
    app.store.dedup.first_times = timed("first_times", dedup)
    app.store.users.enter = timed("enter", enter)
    app.store.questions.log = timed("log_question", log_q)
    app.conversation._handle = timed("handler", handle)
    channel.send = timed("send", send)

    async def lag() -> None:
        while True:
            t = loop_time()
            await asyncio.sleep(0.01)
            stages["loop lag"].append(loop_time() - t - 0.01)

    asyncio.get_running_loop().create_task(lag())

    import gc

    gc_started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started.append(loop_time())
        elif gc_started:
            stages[f"gc gen{info['generation']}"].append(loop_time() - gc_started.pop())

    gc.callbacks.append(on_gc)

    def report() -> None:
        for name, values in stages.items():
            values.sort()
            n = len(values)
            print(
                f"{name:24} n={n:6} p50={values[n // 2] * 1000:7.2f} ms  "
                f"p99={values[int(n * 0.99)] * 1000:7.2f} ms",
                file=sys.stderr,
            )
    atexit.register(report)


# --- the simulated users -----------------------------------------------------------------------


async def simulate(fake, users: int, pool: list[str], *, rate: float | None, seed: int, first: int) -> dict:
    """Every user asks QUESTIONS_PER_USER questions, each after the previous answer. Without `rate`, at
    once (throughput); with `rate`, questions start on a steady schedule of `rate` per second overall."""
    rnd = random.Random(seed)
    total = users * QUESTIONS_PER_USER
    loop = asyncio.get_running_loop()
    fake.latencies.clear()
    round_trips: list[float] = []
    # With a rate: question k of the run starts at k / rate seconds; user u asks questions u, u + users, ...
    # (one user's questions are users / rate seconds apart: 3.3 s at 1,000 users and 300/s).
    start = loop.time() + 0.2

    async def one_user(index: int) -> None:
        uid = first + index
        for k in range(QUESTIONS_PER_USER):
            if rate is not None:
                at = start + (k * users + index) / rate
                delay = at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            before = len(fake.by_chat.get(str(uid), ()))
            asked = loop.time()
            fake.push_message(uid, pool[rnd.randrange(len(pool))], first_name=f"Người dùng {index}")
            await fake.wait_messages(uid, 1, after=before, within=120)
            round_trips.append(loop.time() - asked)

    began = time.perf_counter()
    await asyncio.gather(*(one_user(i) for i in range(users)))
    wall = time.perf_counter() - began - (0.2 if rate is not None else 0.0)
    lat = sorted(fake.latencies)

    def pct(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] * 1000

    return {
        "answered": total,
        "wall_s": round(wall, 2),
        "msg_per_s": round(total / wall, 1),
        "p50_ms": round(pct(lat, 50), 1),
        "p90_ms": round(pct(lat, 90), 1),
        "p99_ms": round(pct(lat, 99), 1),
        "max_ms": round(lat[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(lat) * 1000, 1),
        "round_trip_p99_ms": round(pct(sorted(round_trips), 99), 1),
        "replies_measured": len(lat),
    }


async def bench(args: argparse.Namespace) -> dict:
    from tests.fakes.telegram_api import FakeTelegram, Jitter

    content = content_dir(args.content)
    fake_engine = args.fake_engine
    if not fake_engine:
        try:
            import bot.engine  # noqa: F401
        except ImportError:
            fake_engine = True  # the answer engine is not built yet: use the tests' fake one
    pool = question_pool(content)
    results: dict = {"transport": args.transport, "users": args.users,
                     "questions": args.users * QUESTIONS_PER_USER,
                     "content": str(content.relative_to(ROOT) if content.is_relative_to(ROOT) else content),
                     "engine": "tests.fakes.FakeEngine" if fake_engine else "bot.engine.AnswerEngine",
                     "cpus": os.cpu_count()}
    server: dict = {"record_calls": False}
    if args.jitter:  # a server counting arrivals at the bot's rate, disturbed (its GC is on: same process)
        jitter = Jitter.parse(None if args.jitter == "gc" else args.jitter)
        server.update(arrival_window=True, rate_limit=BOT_RATE, jitter=jitter)
    results["jitter"] = (f"arrival window at {BOT_RATE}/s" + (f", {server['jitter'].label()}"
                                                               if server.get("jitter") else "")
                         if args.jitter else "-")
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram(**server) as fake:
            cmd = [sys.executable, "-m", "benchmarks.bench_telegram", "--bot", "--api-url", fake.base_url,
                   "--db", f"sqlite+aiosqlite:///{tmp}/bench.db", "--content", str(content),
                   "--transport", args.transport]
            if fake_engine:
                cmd.append("--fake-engine")
            env = {k: v for k, v in os.environ.items() if not k.startswith("CHONNGHE_")}
            env["PYTHONPATH"] = str(ROOT)
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE)
            try:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                if line.strip() != b"READY":
                    raise RuntimeError(f"the bot did not start: {line!r}")
                # Warm up: connections, the engine's caches, SQLite pages.
                # Each run has its own people: the per-chat pacing of one run must not delay the next.
                await simulate(fake, min(50, args.users), pool, rate=None, seed=1, first=FIRST_USER)
                if os.environ.get("BENCH_ONLY") != "latency":
                    results["throughput"] = await simulate(fake, args.users, pool, rate=None, seed=2,
                                                           first=FIRST_USER + 10_000)
                results["latency"] = await simulate(fake, args.users, pool, rate=args.rate, seed=3,
                                                    first=FIRST_USER + 20_000)
                results["latency"]["offered_rate"] = args.rate
                results.setdefault("throughput", results["latency"])
                results["http_429"] = fake.status_counts.get(429, 0)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
    results["targets_met"] = (results["throughput"]["msg_per_s"] >= 300 and results["latency"]["p99_ms"] < 100
                              and results["http_429"] == 0)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="500 users (a shorter run)")
    parser.add_argument(
        "--rate", type=float, default=300.0, help="offered questions per second in the latency run"
    )
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    parser.add_argument("--both", action="store_true", help="run with httpx, then aiohttp")
    parser.add_argument(
        "--content", help="content folder (default: content/ if valid, else the test fixture)"
    )
    parser.add_argument("--fake-engine", action="store_true", help="use the tests' fake answer engine")
    parser.add_argument("--jitter", default=None, metavar="MODE[:MAX_MS[:EVERY]]|gc",
                        help="the server counts arrivals at 1,000/s, with this jitter (stall, delay, bunch)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--bot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    # benchmarks/__main__.py passes its own arguments to every benchmark: ignore the ones not ours.
    args, _unknown = parser.parse_known_args(argv)
    if args.quick:
        args.users = min(args.users, 500)
    if args.bot:
        asyncio.run(run_bot(args))
        return 0
    runs = []
    for transport in (["httpx", "aiohttp"] if args.both else [args.transport]):
        args.transport = transport
        result = asyncio.run(bench(args))
        runs.append(result)
        if not args.json:
            t, lat = result["throughput"], result["latency"]
            print(f"telegram conversation [{transport}] {result['users']} users x {QUESTIONS_PER_USER} "
                  f"questions, engine {result['engine']}, content {result['content']}")
            print(f"  server jitter: {result['jitter']}; 429 answers: {result['http_429']}")
            print(f"  throughput: {t['msg_per_s']} answered msg/s ({t['answered']} in {t['wall_s']} s), "
                  f"p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms under saturation")
            print(f"  latency at {lat['offered_rate']:.0f} msg/s offered: {lat['msg_per_s']} msg/s, "
                  f"p50 {lat['p50_ms']} ms, p90 {lat['p90_ms']} ms, p99 {lat['p99_ms']} ms, "
                  f"max {lat['max_ms']} ms")
            met = "met" if result["targets_met"] else "NOT met"
            print(f"  targets (>= 300 msg/s, p99 < 100 ms, no 429): {met}")
    if args.json:
        print(json.dumps(runs if args.both else runs[0], ensure_ascii=False, indent=2))
    return 0 if all(r["targets_met"] for r in runs if r["transport"] == "aiohttp") else 1


if __name__ == "__main__":
    raise SystemExit(main())
