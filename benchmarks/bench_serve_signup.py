"""First-time sign-ups through the real service: `python -m benchmarks.bench_serve_signup [--users N]`.

`chonnghe serve` runs as a separate process (polling, SQLite in a temporary folder, the shipped content,
CHONNGHE_TELEGRAM_RATE=1000), as production runs it; the fake Bot API server (no rate limit) runs in this
process. N people (default 6,000: a QR code shown at a counselling day) who never wrote to the bot all send
`/dangky tuyen_sinh` at once. Printed: answered per second (N / time from the first update offered to
the last answer received; target >= 400), and the p50 / p99 time from an update handed to the bot to its
answer. BENCH_PROFILE=FILE writes a cProfile of the serve process. Figures for docs/benchmarks.md,
"## Through chonnghe serve".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

TOKEN = "123:ABC"
FIRST_USER = 500_000


async def run(users: int, database_url: str | None) -> dict[str, float]:
    async with FakeTelegram(token=TOKEN, record_calls=False) as fake:
        with tempfile.TemporaryDirectory() as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CHONNGHE_")}
            env.update({"CHONNGHE_HTTP_PORT": "0", "CHONNGHE_LOG_LEVEL": "WARNING",
                        "CHONNGHE_DATABASE_URL": database_url or f"sqlite:///{tmp}/bench.db",
                        "CHONNGHE_TELEGRAM_TOKEN": TOKEN, "CHONNGHE_TELEGRAM_API_URL": fake.base_url,
                        "CHONNGHE_TELEGRAM_RATE": "1000", "PYTHONPATH": str(ROOT)})
            profile = os.environ.get("BENCH_PROFILE")  # a file: cProfile of the serve process
            prefix = ["-m", "cProfile", "-o", profile] if profile else []
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *prefix, "-m", "bot", "serve", cwd=ROOT, env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            log: list[str] = []

            async def read() -> None:
                assert proc.stderr is not None
                async for raw in proc.stderr:
                    log.append(raw.decode("utf-8", "replace").rstrip())

            reader = asyncio.create_task(read())
            try:
                # Ready once the bot has deleted the webhook (it polls right after) and the log says so.
                for _ in range(600):
                    if fake._poll_generation >= 1:  # the bot polls
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                began = time.perf_counter()
                for n in range(users):
                    fake.push_message(FIRST_USER + n, "/dangky tuyen_sinh", first_name=f"Bạn {n}")
                while fake.stats()["sent"] < users:
                    if proc.returncode is not None:
                        raise SystemExit("serve died:\n" + "\n".join(log[-30:]))
                    await asyncio.sleep(0.05)
                wall = time.perf_counter() - began
                latencies = fake.latency_summary()
                answered = sum(1 for n in range(users) if fake.messages_to(FIRST_USER + n))
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(proc.wait(), 60)
                reader.cancel()
            errors = [line for line in log if re.search(r"\b(ERROR|CRITICAL)\b", line)]
            for line in errors[:5]:
                print("serve:", line[:300], file=sys.stderr)
            return {"users": users, "answered": answered, "wall_s": wall, "answered_per_s": users / wall,
                    "errors": len(errors), **{f"latency_{k}": v for k, v in latencies.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument(
        "--database-url", help="e.g. postgresql+asyncpg://... (default: SQLite in a temp folder)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.users, args.database_url))
    for key, value in result.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
