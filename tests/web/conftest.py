"""Fixtures of the web chat tests: the whole bot in this event loop (bot.app.build_app) served by
pytest-aiohttp's `aiohttp_server`, and the browser harness (tests/web/browser.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot import app as app_module
from bot.channels.web import WebChannel
from bot.config import Settings
from tests.conftest import CONTENT_DIR
from tests.web.browser import browser, browser_pages  # noqa: F401  (fixtures)


@dataclass
class WebBot:
    """The running bot: `url` of its HTTP server, the App, the web adapter."""

    app: Any
    server: Any

    @property
    def url(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    @property
    def origin(self) -> str:
        return self.url

    @property
    def web(self) -> WebChannel:
        return self.app.channels["web"]

    async def broadcast(self, text: str, topic: str = "tuyen_sinh") -> int:
        """Create a broadcast to `topic`'s web subscribers now and let the scheduler send it."""
        row, _timing = await self.app.services.broadcasts.create(text, [topic], channels=["web"],
                                                                 created_by="test")
        self.app.scheduler.poke()
        return row.id

    async def broadcast_done(self, broadcast_id: int, within: float = 15.0) -> dict:
        async with asyncio.timeout(within):
            while True:
                shown = await self.app.services.broadcasts.show(broadcast_id)
                if shown["status"] == "done":
                    return shown
                await asyncio.sleep(0.1)


def web_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": db_url, "content_dir": CONTENT_DIR, "http_port": 0,
                              "quiet_hours": "", "_env_file": None}
    values.update(overrides)
    return Settings.load(**values)


async def start_bot(aiohttp_server, settings: Settings) -> WebBot:
    """build_app, then its HTTP app on pytest-aiohttp's server, then the channels and the scheduler."""
    app = await app_module.build_app(settings)
    server = await aiohttp_server(app.http)
    for adapter in app.channels.values():
        await adapter.start()
    await app.scheduler.start()
    return WebBot(app, server)


@pytest.fixture
async def web_bot(aiohttp_server, db_url, request) -> AsyncIterator[WebBot]:
    """The bot with its web channel on a loopback port (indirect parametrisation gives settings)."""
    overrides = getattr(request, "param", {}) or {}
    bot = await start_bot(aiohttp_server, web_settings(db_url, **overrides))
    try:
        yield bot
    finally:
        await app_module.stop(bot.app)
