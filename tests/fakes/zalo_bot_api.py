"""A fake Zalo Bot API server (aiohttp) for tests: the real adapter talks to it over loopback.

Point CHONNGHE_ZALO_BOT_API_URL at `fake.url`; calls arrive as `POST /bot<TOKEN>/<method>` with JSON (a
query string or form body is accepted too). A wrong token answers 401.

Methods: getMe; getUpdates (one update per call, long polling up to its `timeout`, then HTTP 408 as the
real API does; answers 400 while a webhook is set); sendMessage (records the message; text must be 1 to
2,000 characters); setWebhook (url and a secret_token of 8-256 characters) / deleteWebhook /
getWebhookInfo. With a webhook set, pushed updates are POSTed to it with the X-Bot-Api-Secret-Token
header instead of being queued for getUpdates.

Failure injection: `fail_next(code, count, method=..., http_status=...)` makes the next calls of a method
fail (e.g. 429, 502, 403, 400; http_status=200 gives an `ok: false` body with HTTP 200), `blocked` chat
ids answer 403 to sendMessage, `wrap=False` hands updates out bare (without `{ok, result}`).

Tests push messages with `push_text` / `push_event` / `push_update`, wait with `wait_messages` /
`wait_for` (woken by every change, no sleeps), and forge webhook calls with `post_webhook`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.waiting import ChangeWaiters

DEFAULT_TOKEN = "1234567890:zbTestSecretTokenXYZ"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
BOT_ID = "8888000011112222"


@dataclass
class Sent:
    """One message the bot sent."""

    chat_id: str
    text: str
    message_id: str
    at: float


def _fail(code: int, description: str, http_status: int | None = None, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description, **extra},
                             status=http_status or code)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


class FakeZaloBot(ChangeWaiters):
    """The fake server. `async with FakeZaloBot() as fake:` or start()/stop()."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, host: str = "127.0.0.1", max_poll: float = 30.0):
        self.token = token
        self.host = host
        self.max_poll = max_poll  # caps a getUpdates wait (tests ask for short ones)
        self.port: int | None = None
        self.wrap = True
        self.blocked: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.updates: deque[dict] = deque()
        self.sent: list[Sent] = []
        self.by_chat: dict[str, list[Sent]] = defaultdict(list)
        self.calls: list[tuple[str, dict]] = []
        self.paths: list[str] = []
        self.failures: dict[str, deque[tuple[int, str, int | None, dict]]] = defaultdict(deque)
        self.webhook: dict[str, Any] | None = None
        self.webhook_posts: list[int] = []  # HTTP status of each POST to the bot's webhook (0: no connection)
        self.idle_answers = 0  # how many getUpdates ended with 408
        self._waiters: list[asyncio.Future] = []

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> int:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        self._changed()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZaloBot:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """What the bot takes as CHONNGHE_ZALO_BOT_API_URL."""
        return f"http://{self.host}:{self.port}"

    # --- waiting -------------------------------------------------------------------------------

    def messages_to(self, chat_id: str) -> list[Sent]:
        return list(self.by_chat.get(str(chat_id), ()))

    async def wait_messages(
        self, chat_id: str, count: int = 1, *, after: int = 0, within: float = 5.0
    ) -> list[Sent]:
        """Wait for the chat to have `after + count` messages; returns those after the first `after`."""
        key = str(chat_id)
        try:
            await self.wait_for(lambda: len(self.by_chat.get(key, ())) >= after + count, within,
                                f"{count} message(s) to {chat_id}")
        except TimeoutError:
            got = [s.text[:80] for s in self.by_chat.get(key, ())[after:]]
            raise TimeoutError(f"timed out waiting for {count} message(s) to {chat_id} after {after}; "
                               f"got {got}") from None
        return list(self.by_chat[key][after:])

    # --- pushing updates -----------------------------------------------------------------------

    def message_update(self, user_id: str, text: str | None = None, *, event: str = "message.text.received",
                       name: str = "An", message_id: str | None = None, chat_id: str | None = None,
                       chat_type: str = "PRIVATE") -> dict:
        message: dict[str, Any] = {
            "from": {"id": str(user_id), "display_name": name, "is_bot": False},
            "chat": {"id": str(chat_id or user_id), "chat_type": chat_type},
            "message_id": message_id or f"msg{next(self._ids):06d}",
            "date": int(time.time() * 1000),
        }
        if text is not None:
            message["text"] = text
        return {"event_name": event, "message": message}

    def push_text(self, user_id: str, text: str, **kw: Any) -> dict:
        """A person sends `text`; returns the update (queued for getUpdates or POSTed to the webhook)."""
        return self.push_update(self.message_update(user_id, text, **kw))

    def push_event(self, user_id: str, event: str = "message.image.received", **kw: Any) -> dict:
        """A person sends something that is not text (an image, a sticker...)."""
        return self.push_update(self.message_update(user_id, None, event=event, **kw))

    def push_update(self, update: dict) -> dict:
        if self.webhook is not None:
            asyncio.get_running_loop().create_task(self._deliver(update))
        else:
            self.updates.append(update)
            self._changed()
        return update

    async def _deliver(self, update: dict) -> None:
        assert self.webhook is not None
        status, _ = await self.post_webhook(update, secret=self.webhook["secret_token"])
        self.webhook_posts.append(status)
        self._changed()

    async def post_webhook(
        self, body: dict | bytes, *, secret: str | None, url: str | None = None
    ) -> tuple[int, str]:
        """POST `body` to the bot's webhook (the registered url unless `url`), with the secret header when
        `secret` is not None; returns (status, text), status 0 when nothing answered."""
        target = url or (self.webhook or {}).get("url")
        assert target, "no webhook registered"
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            async with self._session.post(target, data=data, headers=headers) as resp:
                return resp.status, await resp.text()
        except aiohttp.ClientError:
            return 0, ""

    # --- failures ------------------------------------------------------------------------------

    def fail_next(
        self,
        code: int,
        count: int = 1,
        *,
        method: str = "sendMessage",
        description: str | None = None,
        http_status: int | None = None,
        **extra: Any,
    ) -> None:
        """The next `count` calls of `method` fail with `code` (HTTP status `http_status`, default `code`)."""
        text = description or {429: "Too Many Requests", 502: "Bad Gateway", 403: "Forbidden",
                               400: "Bad Request", 500: "Internal Server Error"}.get(code, "Error")
        for _ in range(count):
            self.failures[method].append((code, text, http_status, extra))

    # --- the API -------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            if raw:
                if request.content_type == "application/json":
                    loaded = json.loads(raw)
                    if isinstance(loaded, dict):
                        params.update(loaded)
                else:
                    params.update((await request.post()).items())
        return params

    async def _api(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        if request.match_info["token"] != self.token:
            return _fail(401, "Unauthorized")
        method = request.match_info["method"]
        try:
            params = await self._params(request)
        except ValueError:
            return _fail(400, "Bad Request: invalid JSON")
        self.calls.append((method, params))
        if self.failures.get(method):
            code, text, http_status, extra = self.failures[method].popleft()
            self._changed()
            return _fail(code, text, http_status, **extra)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _fail(404, f"Not Found: method {method}")
        return await handler(params)

    async def _m_getMe(self, params: dict) -> web.Response:
        return _ok({"id": BOT_ID, "account_name": "bot.chonnghe", "account_type": "BASIC",
                    "can_join_groups": False, "display_name": "Chọn nghề"})

    async def _m_getUpdates(self, params: dict) -> web.StreamResponse:
        if self.webhook is not None:
            return _fail(400, "Bad Request: webhook is set, getUpdates is not available")
        try:
            timeout = min(float(params.get("timeout", 30)), self.max_poll)
        except (TypeError, ValueError):
            return _fail(400, "Bad Request: timeout must be a number")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.updates:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.idle_answers += 1
                self._changed()
                return _fail(408, "Request timeout")
            fut = loop.create_future()
            self._waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, remaining)
        update = self.updates.popleft()
        self._changed()
        return _ok(update) if self.wrap else web.json_response(update)

    async def _m_sendMessage(self, params: dict) -> web.Response:
        chat_id, text = params.get("chat_id"), params.get("text")
        if not isinstance(chat_id, str) or not chat_id:
            return _fail(400, "Bad Request: chat_id is required")
        if not isinstance(text, str) or not text:
            return _fail(400, "Bad Request: text is required")
        if len(text) > 2000:
            return _fail(400, "Bad Request: text must not exceed 2000 characters")
        if chat_id in self.blocked:
            return _fail(403, "Forbidden: the user has blocked the bot")
        sent = Sent(chat_id, text, f"out{next(self._ids):06d}", time.monotonic())
        self.sent.append(sent)
        self.by_chat[chat_id].append(sent)
        self._changed()
        return _ok({"message_id": sent.message_id, "date": int(time.time() * 1000)})

    async def _m_setWebhook(self, params: dict) -> web.Response:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return _fail(400, "Bad Request: url is invalid")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return _fail(400, "Bad Request: secret_token must be 8-256 characters")
        self.webhook = {"url": url, "secret_token": secret}
        self._changed()
        return _ok({"url": url, "updated_at": int(time.time() * 1000)})

    async def _m_deleteWebhook(self, params: dict) -> web.Response:
        self.webhook = None
        self._changed()
        return _ok({"url": "", "updated_at": int(time.time() * 1000)})

    async def _m_getWebhookInfo(self, params: dict) -> web.Response:
        return _ok({"url": (self.webhook or {}).get("url", ""), "updated_at": int(time.time() * 1000)})
