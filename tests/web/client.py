"""A small WebSocket client of the chat protocol (bot/channels/web.py) for the adapter tests and the
benchmark: connect, say hello, send, and read frames until a condition holds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.channels.web import WS_PATH


class ChatClient:
    """One open page: `frames` holds everything received, in order."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, origin: str | None = None,
                 cookies: dict[str, str] | None = None):
        self.session, self.base_url = session, base_url.rstrip("/")
        self.origin = base_url.rstrip("/") if origin is None else origin
        self.cookies = cookies
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self.close_code: int | None = None

    async def connect(self, *, after: int = 0, token: str | None = None, hello: bool = True) -> ChatClient:
        headers = {"Origin": self.origin} if self.origin else {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.ws = await self.session.ws_connect(self.base_url + WS_PATH, headers=headers, autoping=True)
        self._reader = asyncio.create_task(self._read())
        if hello:
            await self.send({"t": "hello", "after": after, "token": token})
            self.welcome = await self.wait_for(lambda f: f["t"] == "welcome")
            await self.wait_for(lambda f: f["t"] == "synced")
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(msg.data))
                self._changed.set()
        self.close_code = self.ws.close_code
        self._changed.set()

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def say(self, text: str, cid: str = "c1") -> None:
        await self.send({"t": "msg", "text": text, "cid": cid})

    def messages(self, sender: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["t"] == "m" and (sender is None or f["from"] == sender)]

    async def wait_for(self, check: Callable[[dict[str, Any]], bool], within: float = 10.0, start: int = 0) -> Any:
        """The first frame from index `start` on for which check(frame) holds (waiting for it)."""
        async with asyncio.timeout(within):
            seen = start
            while True:
                while seen < len(self.frames):
                    frame = self.frames[seen]
                    seen += 1
                    if check(frame):
                        return frame
                if self._reader is not None and self._reader.done():
                    raise AssertionError(f"socket closed ({self.close_code}) while waiting; frames: {self.frames}")
                self._changed.clear()
                await self._changed.wait()

    async def reply_to(self, text: str, within: float = 10.0) -> dict[str, Any]:
        """Say `text` and wait for the bot's next message and the end of typing; returns the message."""
        start = len(self.frames)
        await self.say(text)
        message = await self.wait_for(lambda f: f["t"] == "m" and f["from"] == "bot", within, start)
        await self.wait_for(lambda f: f["t"] == "typing" and not f["on"], within, start)
        return message

    async def closed(self, within: float = 10.0) -> int | None:
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), within)
        return self.close_code

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
