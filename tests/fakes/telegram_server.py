"""The fake Bot API server in its own process, and a bare aiohttp sender for it (tests and benchmarks).

FakeServer runs `python -m tests.fakes.telegram_api` in another process and drives it through its
control API; HttpSender is a plain aiohttp sendMessage client with the channel adapter contract's
error mapping, to see what the dispatcher alone guarantees (or can do) without python-telegram-bot.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp

from bot.ports import Blocked, Permanent, RateLimited, Transient
from bot.types import Reply
from tests.fakes.telegram_api import DEFAULT_TOKEN as TOKEN
from tests.fakes.telegram_api import FakeTelegramClient

ROOT = Path(__file__).resolve().parent.parent.parent


class FakeServer:
    """`python -m tests.fakes.telegram_api` in another process, driven through its control API."""

    def __init__(self, rate: float | None = None, blocked: tuple[int, ...] = (), *,
                 arrival_window: bool = False, gc: bool = False, jitter: str | None = None):
        """`rate`: the server's sliding-window limit; `arrival_window`: count by arrival time; `gc`: keep the
        server's cyclic garbage collector on; `jitter`: "MODE[:MAX_MS[:EVERY]]"
        (tests/fakes/telegram_api.py)."""
        self.rate = rate
        self.blocked = blocked
        self.arrival_window = arrival_window
        self.gc = gc
        self.jitter = jitter
        self.url = ""
        self.proc: asyncio.subprocess.Process | None = None
        self.client: FakeTelegramClient | None = None

    async def start(self) -> None:
        """Start the server process and wait for the port it listens on."""
        cmd = [sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0"]
        if self.rate:
            cmd += ["--rate-limit", str(self.rate)]
        if self.blocked:
            cmd += ["--blocked", ",".join(map(str, self.blocked))]
        if self.arrival_window:
            cmd.append("--arrival-window")
        if self.gc:
            cmd.append("--gc")
        if self.jitter:
            cmd += ["--jitter", self.jitter]
        self.proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        port = int((await asyncio.wait_for(self.proc.stdout.readline(), 30)).strip())
        self.url = f"http://127.0.0.1:{port}"
        self.client = FakeTelegramClient(self.url)

    async def sent(self) -> list[dict]:
        """Every sendMessage the server accepted: {"chat_id", "text", "at", ...}."""
        assert self.client is not None
        return [m for m in await self.client.sent() if m["method"] == "sendMessage"]

    async def received(self, contains: str | None = None) -> Counter[str]:
        """Messages per chat (only those whose text contains `contains`, when given)."""
        return Counter(
            str(m["chat_id"]) for m in await self.sent() if contains is None or contains in m["text"]
        )

    async def stats(self) -> dict:
        """The server's counters (status_counts, ...)."""
        assert self.client is not None
        return await self.client.stats()

    async def close(self) -> None:
        """Close the control client and end the server process."""
        if self.client is not None:
            await self.client.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


class HttpSender:
    """A plain aiohttp sendMessage client with the adapter contract's error mapping."""

    name = "telegram"
    kind = "aiohttp sendMessage client (tests/fakes/telegram_server.py)"

    def __init__(self, base_url: str, connections: int):
        self.base = f"{base_url}/bot{TOKEN}"
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))

    def routes(self) -> list:
        """No webhook routes."""
        return []

    async def start(self) -> None:
        """Nothing to start."""
        return None

    async def stop(self) -> None:
        """Close the HTTP session."""
        await self.session.close()

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send the text; returns the message id or raises the send error the answer maps to."""
        try:
            async with self.session.post(f"{self.base}/sendMessage",
                                         json={"chat_id": chat_id, "text": reply.text}) as r:
                data = await r.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Transient(str(exc)) from exc
        if data.get("ok"):
            return str(data["result"]["message_id"])
        code, desc = data.get("error_code", 0), data.get("description", "")
        if code == 429:
            raise RateLimited(desc, float(data.get("parameters", {}).get("retry_after", 1)))
        if code == 403 or (code == 400 and "chat not found" in desc.lower()):
            raise Blocked(desc)
        if code >= 500:
            raise Transient(desc)
        raise Permanent(desc)
