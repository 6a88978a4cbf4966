"""Slow and greedy HTTP clients, bounded in time: a body sent a byte at a time, a request head that never
ends, a forged OA signature with a large body announced, more connections than the caps allow, and a
shutdown with stalled connections; plus the repeat filter that keeps a flood of errors out of the log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket

import pytest

import bot.app as appmod
from bot import httpguard
from bot.outbound import NullLimiter
from tests.channels.test_telegram_polling import make_settings as tg_settings
from tests.channels.test_zalo_bot import make_settings as zb_settings
from tests.channels.test_zalo_oa import oa_settings
from tests.fakes import running_app
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_bot_api import FakeZaloBot
from tests.fakes.zalo_oa_api import FakeZaloOA

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture(autouse=True)
def _short_limits(monkeypatch):
    monkeypatch.setattr(httpguard, "HEADER_TIMEOUT", 1.0)
    monkeypatch.setattr(httpguard, "BODY_TIMEOUT", 1.0)
    monkeypatch.setattr(httpguard, "SHUTDOWN_TIMEOUT", 1.0)
    monkeypatch.setattr(httpguard, "MAX_PER_ADDRESS", 8)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing; fails if it kept the connection open `seconds`."""
    data = b""
    async with asyncio.timeout(seconds):
        try:
            while chunk := await reader.read(4096):
                data += chunk
        except (
            ConnectionResetError
        ):  # closed with our unread bytes in its buffer: a reset, closed all the same
            pass
    return data


async def _trickle(port: int, path: str, headers: dict[str, str], seconds: float) -> bytes:
    """POST announcing 1,000 bytes and sending one per 0.2 s; returns what came back once closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: 1000\r\n{head}\r\n".encode())

    async def drip() -> None:
        try:
            for _ in range(200):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, RuntimeError):
            pass

    dripping = asyncio.create_task(drip())
    try:
        return await _closed_within(reader, seconds)
    finally:
        dripping.cancel()
        writer.close()


async def test_slow_bodies_are_cut_off_on_all_three_webhooks(db_url):
    port = _free_port()
    async with FakeTelegram() as tg, FakeZaloOA() as oa, FakeZaloBot(max_poll=0.3) as zb:
        settings = tg_settings(
            db_url,
            tg,
            telegram_mode="webhook",
            http_port=port,
            public_url=f"http://127.0.0.1:{port}",
            telegram_webhook_secret="s3cret-Token_1",
        )
        extra = oa_settings(db_url, oa).model_dump(include={
            "zalo_oa_app_id", "zalo_oa_app_secret", "zalo_oa_secret_key", "zalo_oa_access_token",
            "zalo_oa_refresh_token", "zalo_oa_api_url", "zalo_oauth_url"})
        extra.update(zb_settings(db_url, zb).model_dump(include={"zalo_bot_token", "zalo_bot_api_url"}))
        settings = settings.model_copy(
            update={**extra, "zalo_bot_mode": "webhook", "zalo_bot_secret": "zb-s3cret-1"}
        )
        async with running_app(settings, limiter=NullLimiter()) as app:
            await tg.wait_for(lambda: tg.webhook, what="setWebhook")
            for path, headers in [
                ("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}),
                ("/zalo/oa/webhook", {"X-ZEvent-Signature": "mac=" + "ab" * 32}),
                ("/zalo/bot/webhook", {"X-Bot-Api-Secret-Token": "zb-s3cret-1"}),
            ]:
                answer = await _trickle(app.port, path, headers, seconds=4)
                assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), (path, answer[:80])


async def test_a_request_head_that_never_ends_is_closed(db_url):
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake), limiter=NullLimiter()) as app:
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(b"POST /zalo/oa/webhook HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        await _closed_within(reader, 4)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)  # says nothing at all
        await _closed_within(reader, 4)
        writer.close()


async def test_a_forged_oa_signature_is_refused_before_the_body(db_url):
    async with FakeZaloOA() as fake, running_app(oa_settings(db_url, fake), limiter=NullLimiter()) as app:
        for signature in ("mac=forged", "x" * 64, ""):
            reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
            writer.write(b"POST /zalo/oa/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                         + (f"X-ZEvent-Signature: {signature}\r\n".encode() if signature else b"") + b"\r\n")
            answer = await _closed_within(reader, 2)  # no body sent: answered and closed at once
            assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
            writer.close()


async def test_connections_over_the_cap_are_closed_and_the_service_keeps_answering(db_url):
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake), limiter=NullLimiter()) as app:
        held = [await asyncio.open_connection("127.0.0.1", app.port) for _ in range(8)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        assert await _closed_within(reader, 2) == b""  # the ninth from this address: closed at once
        writer.close()
        assert app.runner.refused >= 1
        for _r, w in held:
            w.close()
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await _closed_within(reader, 5)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body["status"] == "ok"
        writer.close()
        for _r, w in [*held, (reader, writer)]:
            with contextlib.suppress(ConnectionError):
                await w.wait_closed()


async def test_the_total_cap_is_a_setting(db_url):
    # CHONNGHE_HTTP_MAX_CONNECTIONS: each open web chat holds a connection, so a site with more visitors at
    # once than the default (4096) raises it. 16 here, from three addresses (8 each at most): 17th closed.
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake, http_max_connections=16),
                                                   limiter=NullLimiter()) as app:
        assert app.runner.max_total == 16
        held = [await asyncio.open_connection("127.0.0.1", app.port, local_addr=(f"127.0.0.{2 + n // 8}", 0))
                for n in range(16)]
        await asyncio.sleep(0.1)
        assert app.runner.open_connections == 16
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port, local_addr=("127.0.0.4", 0))
        assert await _closed_within(reader, 2) == b""  # a new address, but the 17th in all: closed at once
        assert app.runner.refused == 1
        for _r, w in [*held, (reader, writer)]:
            w.close()
            with contextlib.suppress(ConnectionError):
                await w.wait_closed()


async def test_shutdown_with_stalled_connections_takes_seconds(db_url):
    async with FakeZaloOA() as fake:
        app = await appmod.build_app(oa_settings(db_url, fake))
        await appmod.start(app)
        stalled = []
        for _ in range(6):
            _reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
            writer.write(b"POST /zalo/oa/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                         b"X-ZEvent-Signature: mac=" + b"ab" * 32 + b"\r\n\r\n{")
            stalled.append(writer)
        for _ in range(6):  # and idle ones
            stalled.append((await asyncio.open_connection("127.0.0.1", app.port))[1])
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await appmod.stop(app)
        assert loop.time() - began < 6
        for writer in stalled:
            writer.close()


def test_repeated_errors_are_logged_at_a_bounded_rate():
    now = [0.0]
    found = httpguard.RepeatFilter(window=10, clock=lambda: now[0])

    def record(msg: str, *args, exc: BaseException | None = None) -> logging.LogRecord:
        return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, msg, args,
                                 (type(exc), exc, None) if exc else None)

    kept = [found.filter(record("Error handling request from %s", f"10.0.0.{i}")) for i in range(5000)]
    assert kept.count(True) == 1
    now[0] = 11
    later = record("Error handling request from %s", "10.0.0.9")
    assert found.filter(later) and "4999 similar" in later.getMessage()
    reset = record("Error handling request", exc=ConnectionResetError("peer went away"))
    now[0] = 30
    assert found.filter(reset) and reset.exc_info is None and "ConnectionResetError" in reset.getMessage()
    # Folded numbers: the same text with another address (after redaction merged the arguments) repeats too.
    assert found.filter(record("refused 10.1.1.1:5555")) and not found.filter(record("refused 10.1.1.2:6666"))
