"""A broadcast through the real service: `python -m benchmarks.bench_serve_broadcast [--backend B]
[--subscribers N] [--concurrency C]`.

Black-box, as production runs it: `chonnghe serve` is its own process (polling, the shipped content,
CHONNGHE_TELEGRAM_RATE=1000); the fake Bot API server (tests/fakes/telegram_api.py) is another, limiting
sendMessage to 1,000 per sliding second counted by arrival, with its garbage collector on. N people (default
20,000) subscribe through the chat (`/dangky tuyen_sinh`, all at once); then a staff member creates the
broadcast with `chonnghe broadcast create` and checks it with `chonnghe broadcast show --json` once a second
(each a process of its own, as a person at a terminal) until it is done.

Printed: the sign-up rate (answers per second), the broadcast's sustained rate (deliveries between the first
and the last broadcast message the server received: (n - 1) / (last - first)), the best and worst 5-second
windows, the 429s the server gave, each recipient's count of the message (every one exactly once), and
what `broadcast show` said at the end. Target (issue 13): >= 950 msg/s with no 429, on SQLite and on
PostgreSQL (`--backend postgresql`: a scratch database on CHONNGHE_BENCH_PG_URL or
CHONNGHE_TEST_DATABASE_URL, dropped afterwards). BENCH_PROFILE=FILE writes a cProfile of the serve
process. Figures for docs/benchmarks.md, "## Through chonnghe serve".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_dispatch import Database  # noqa: E402
from tests.fakes.telegram_server import TOKEN, FakeServer  # noqa: E402

FIRST_ID = 3_000_000
MARK = "BENCH-SERVE-BROADCAST"


async def cli(env: dict[str, str], *args: str) -> str:
    """Run `chonnghe ARGS` as its own process (as staff do); its standard output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"chonnghe {' '.join(args)} failed: {err.decode()[-500:]}")
    return out.decode()


async def run(backend: str, subscribers: int, concurrency: int | None) -> dict[str, object]:
    fake = FakeServer(rate=1000, arrival_window=True, gc=True)
    await fake.start()
    assert fake.client is not None
    try:
        async with Database(backend) as url:
            with tempfile.TemporaryDirectory() as tmp:
                env = {k: v for k, v in os.environ.items() if not k.startswith("CHONNGHE_")}
                env.update({"PYTHONPATH": str(ROOT), "CHONNGHE_DATABASE_URL": url, "CHONNGHE_HTTP_PORT": "0",
                            "CHONNGHE_TELEGRAM_TOKEN": TOKEN, "CHONNGHE_TELEGRAM_API_URL": f"{fake.url}/bot",
                            "CHONNGHE_TELEGRAM_MODE": "polling", "CHONNGHE_TELEGRAM_RATE": "1000",
                            "CHONNGHE_QUIET_HOURS": "",
                            "CHONNGHE_LOG_LEVEL": "WARNING", "CHONNGHE_CACHE_DIR": f"{tmp}/cache"})
                if concurrency:
                    env["CHONNGHE_BROADCAST_CONCURRENCY"] = str(concurrency)
                return await _measure(fake, env, Path(tmp), subscribers)
    finally:
        await fake.close()


async def _measure(fake: FakeServer, env: dict[str, str], tmp: Path, subscribers: int) -> dict[str, object]:
    assert fake.client is not None
    profile = os.environ.get("BENCH_PROFILE")
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    log_path = tmp / "serve.log"
    with open(log_path, "wb") as log:  # noqa: ASYNC230 - the child inherits the file
        proc = await asyncio.create_subprocess_exec(sys.executable, *prefix, "-m", "bot", "serve", cwd=ROOT,
                                                    env=env, stdout=log, stderr=log)
    try:
        # Started and polling once one person's /start is answered; the CPU it took so far is start-up.
        await fake.client.push_messages(FIRST_ID - 1, 1, "/start")
        while (await fake.stats())["sent"] < 1:
            if proc.returncode is not None:
                raise SystemExit("serve died:\n" + log_path.read_text()[-3000:])
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        warm = await fake.stats()
        serve = psutil.Process(proc.pid)
        cpu_start = sum(serve.cpu_times()[:2])
        # Everyone subscribes through the chat, all at once (a QR code at a counselling day).
        began = time.perf_counter()
        await fake.client.push_messages(FIRST_ID, subscribers, "/dangky tuyen_sinh")
        while (await fake.stats())["sent"] < subscribers + warm["sent"]:
            if proc.returncode is not None:
                raise SystemExit("serve died:\n" + log_path.read_text()[-3000:])
            await asyncio.sleep(0.2)
        signup_s = time.perf_counter() - began
        cpu_signup = sum(serve.cpu_times()[:2]) - cpu_start
        bid = int((await cli(env, "broadcast", "create", "--text", f"Mùa tuyển sinh {MARK}",
                             "--topic", "tuyen_sinh")).strip())
        shows = 0
        while True:  # the staff member at the terminal, once a second
            shown = json.loads(await cli(env, "broadcast", "show", str(bid), "--json"))
            shows += 1
            if shown["status"] in ("done", "failed", "cancelled"):
                break
            if proc.returncode is not None:
                raise SystemExit("serve died:\n" + log_path.read_text()[-3000:])
            await asyncio.sleep(1.0)
        cpu_broadcast = sum(serve.cpu_times()[:2]) - cpu_signup - cpu_start
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
    sent = [m for m in await fake.sent() if MARK in (m["text"] or "")]
    stats = await fake.stats()
    times = sorted(m["at"] for m in sent)
    per_chat = Counter(str(m["chat_id"]) for m in sent)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    # 5-second windows over whole seconds from the first delivery (the last, partial second left out).
    per_second = Counter(int(t - times[0]) for t in times) if times else Counter()
    windows = [sum(per_second[s + k] for k in range(5)) / 5 for s in range(max(0, int(span) - 4))]
    errors = [line for line in log_path.read_text(errors="replace").splitlines()
              if " ERROR " in line or "CRITICAL" in line or "Traceback" in line]
    return {
        "subscribers": subscribers,
        "signup_per_s": round(subscribers / signup_s, 1),
        "serve_cpu_ms_per_signup": round(cpu_signup * 1000 / subscribers, 3),
        "delivered": len(sent),
        "everyone_once": len(per_chat) == subscribers and set(per_chat.values()) == {1},
        "broadcast_msg_per_s": round((len(times) - 1) / span, 1) if span else None,
        "best_5s": max(windows) if windows else None,
        "worst_5s": min(windows) if windows else None,
        "serve_cpu_ms_per_delivery": round(cpu_broadcast * 1000 / max(1, len(sent)), 3),
        "http_429": stats["status_counts"].get("429", 0),
        "show_calls": shows,
        "show_final": {"status": shown["status"], "counts": shown["counts"]},
        "serve_errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="CHONNGHE_BROADCAST_CONCURRENCY (default: unset, the service's own choice)")
    args = parser.parse_args()
    result = asyncio.run(run(args.backend, args.subscribers, args.concurrency))
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
