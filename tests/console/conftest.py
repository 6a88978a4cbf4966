"""Fixtures of the staff console tests: the whole bot in this event loop (bot.app.build_app) on
pytest-aiohttp's server, a fake Telegram for people and the staff chat, console accounts, and an HTTP
client that signs in and carries the CSRF token like a browser; the browser harness is tests/web's."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot import app as app_module
from bot.console.accounts import StaffService
from tests.conftest import CONTENT_DIR
from tests.fakes.telegram_api import FakeTelegram
from tests.web.browser import browser, browser_pages  # noqa: F401  (fixtures)
from tests.web.conftest import WebBot, web_settings

PASSWORD = "mật khẩu đủ dài 123"
STAFF_CHAT = "-100777"
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


@dataclass
class ConsoleBot(WebBot):
    """The running bot, its fake Telegram and its content folder (a copy the tests may change)."""

    telegram: FakeTelegram | None = None
    content: Any = None

    async def account(self, name: str, role: str, password: str | None = PASSWORD) -> str | None:
        """Make a console account (as `chonnghe staff add` does); returns the one-time password if any."""
        _row, once = await StaffService(self.app.store).add(name, role, password)
        return once

    def client(self) -> Client:
        return Client(self.url)


class Client:
    """A browser-like HTTP client: keeps cookies, follows redirects, posts forms with their CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **kw: Any) -> tuple[int, str, Any]:
        async with self.session.get(self.base + path, **kw) as r:
            text = await r.text()
            self._remember(text)
            return r.status, text, r

    async def post(self, path: str, data: dict | list | None = None, *, csrf: bool = True,
                   **kw: Any) -> tuple[int, str, Any]:
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            fields.append(("_csrf", self.csrf))
        async with self.session.post(self.base + path, data=fields, **kw) as r:
            text = await r.text()
            self._remember(text)
            return r.status, text, r

    def _remember(self, text: str) -> None:
        found = CSRF_RE.search(text)
        if found:
            self.csrf = found.group(1)

    async def login(self, name: str, password: str = PASSWORD) -> tuple[int, str, Any]:
        await self.get("/console/login")
        return await self.post("/console/login", {"name": name, "password": password})


async def start_console_bot(aiohttp_server, settings, clock=None) -> ConsoleBot:
    app = await app_module.build_app(settings, clock=clock)
    server = await aiohttp_server(app.http)
    for adapter in app.channels.values():
        await adapter.start()
    await app.scheduler.start()
    return ConsoleBot(app, server)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def console_bot(aiohttp_server, db_url, tmp_path, telegram, request) -> AsyncIterator[ConsoleBot]:
    """The bot with Telegram (fake), the staff chat, the web chat and the console; its own content copy.
    Indirect parametrisation may give more settings, and "clock" a FakeClock."""
    overrides = dict(getattr(request, "param", {}) or {})
    clock = overrides.pop("clock", None)
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    settings = web_settings(db_url, content_dir=content, telegram_token=telegram.token,
                            telegram_api_url=telegram.base_url, staff_chat_id=STAFF_CHAT, **overrides)
    bot = await start_console_bot(aiohttp_server, settings, clock)
    bot.telegram, bot.content = telegram, content
    try:
        yield bot
    finally:
        await app_module.stop(bot.app)


@pytest.fixture
async def client(console_bot) -> AsyncIterator[Client]:
    c = console_bot.client()
    yield c
    await c.close()
