"""A fake Telegram Bot API server (aiohttp) for tests and benchmarks.

The real python-telegram-bot client talks to it over loopback: point the bot's base_url at
`fake.base_url` ("http://127.0.0.1:PORT/bot"; the token is appended as with Telegram).

Implemented methods: getMe, getUpdates (long polling with timeout, offset and limit; a newer poll ends an
older waiting one with 409 as Telegram does), setWebhook / deleteWebhook / getWebhookInfo (with a webhook
set, pushed updates are POSTed to it with the X-Telegram-Bot-Api-Secret-Token header, and getUpdates
answers 409), sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery, setMyCommands,
deleteMyCommands. Parameters are accepted as JSON, form-urlencoded or multipart bodies or a query string,
as Telegram does.

Failure injection for sendMessage: chats that answer 403 "Forbidden: bot was blocked by the user"
(`blocked`), 400 "Bad Request: chat not found" (`missing`), a schedule of statuses for the next calls
(`fail_next(429, count=2)`, `fail_next(502)`), probabilities of 429 / 502 (`p429`, `p502`, seeded), and a
server-side rate limit (`rate_limit` messages per second overall, `chat_rate_limit` per chat, sliding
one-second windows) answering 429 with retry_after when exceeded.

Arrival jitter (issue 15): `arrival_window=True` counts sendMessage calls against `rate_limit` by the
time each request reached the server (stamped before its body is read; by default a call is counted
when it is handled), and `jitter=Jitter(mode, max_ms, every)` disturbs arrivals about every `every`
sendMessage calls (seeded): "stall" blocks the server's event loop for 0-max_ms (everything that
arrives meanwhile is stamped together afterwards, as a garbage collection does), "delay" holds one
request 0-max_ms before it is stamped (it arrives late; the ones behind it do not wait), "bunch" holds
every arriving request for 0-max_ms and lets them in together. The standalone server (`_serve`) runs
with the cyclic garbage collector off unless `--gc`; `--arrival-window --gc` is a server as jittery as
any real path.

Tests push updates with `push_message`, `push_callback` or `push_update`, then wait for what the bot
sent with `wait_for` / `wait_messages` (polling a condition with a deadline, no sleeps). `latencies` holds,
for each reply, the seconds from the moment its update was handed to the bot (returned by getUpdates or
POSTed to the webhook) to the moment the reply arrived (the oldest unanswered update of that chat).

Standalone: `python -m tests.fakes.telegram_api --port 0` prints the port on its first line and serves
until killed; the control API under /_fake/ (push, sent, config, stats, reset) drives it from another
process (see FakeTelegramClient).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import time
from collections import defaultdict, deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.waiting import ChangeWaiters

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123:ABC"
BOT_ID = 123
BOT_USERNAME = "chonnghe_test_bot"
JSON_FIELDS = ("reply_markup", "allowed_updates", "reply_parameters", "entities", "link_preview_options")
INT_FIELDS = ("chat_id", "offset", "limit", "message_id", "reply_to_message_id", "max_connections")
FLOAT_FIELDS = ("timeout",)
JITTER_MODES = ("stall", "delay", "bunch")
_COUNTED: ContextVar[bool] = ContextVar("fake_telegram_counted", default=False)  # arrival window passed


@dataclass(frozen=True)
class Jitter:
    """Disturbed arrivals: about every `every` sendMessage calls, a `mode` event of 0-`max_ms` ms."""

    mode: str = "stall"
    max_ms: float = 100.0
    every: int = 300

    def __post_init__(self) -> None:
        if self.mode not in JITTER_MODES:
            raise ValueError(f"jitter mode {self.mode!r}: one of {JITTER_MODES}")

    def label(self) -> str:
        return f"{self.mode} 0-{self.max_ms:g} ms every ~{self.every} requests"

    @classmethod
    def parse(cls, text: str | None) -> Jitter | None:
        """"stall:100:300" (mode, max ms, every), "stall" (defaults), "" or "none": None."""
        if not text or text == "none":
            return None
        parts = text.split(":")
        max_ms = float(parts[1]) if len(parts) > 1 else 100.0
        return cls(parts[0], max_ms, int(parts[2]) if len(parts) > 2 else 300)


@dataclass
class Sent:
    """One message the bot sent (or edited)."""

    method: str
    chat_id: int | str
    text: str
    reply_markup: dict | None
    message_id: int
    at: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def buttons(self) -> list[dict]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [b for row in rows for b in row]

    @property
    def payloads(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def payload_of(self, label_part: str) -> str:
        """The callback data of the first button whose label contains `label_part` (case-insensitive)."""
        for b in self.buttons:
            if label_part.lower() in b.get("text", "").lower() and "callback_data" in b:
                return b["callback_data"]
        raise KeyError(f"no button {label_part!r} in {[b.get('text') for b in self.buttons]}")

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "chat_id": self.chat_id, "text": self.text,
                "reply_markup": self.reply_markup, "message_id": self.message_id, "at": self.at}


def _error(code: int, description: str, retry_after: float | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


class FakeTelegram(ChangeWaiters):
    """The fake server. Use `async with FakeTelegram() as fake:` or start()/stop()."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, host: str = "127.0.0.1",
                 rate_limit: float | None = None, chat_rate_limit: int | None = None, p429: float = 0.0,
                 p502: float = 0.0,
                 retry_after: int = 1, seed: int = 0, record_calls: bool = True, arrival_window: bool = False,
                 jitter: Jitter | None = None):
        self.token = token
        self.arrival_window = arrival_window
        self.jitter = jitter
        self._jitter_random = random.Random(seed + 1)
        self.host = host
        self.rate_limit = rate_limit
        self.chat_rate_limit = chat_rate_limit
        self.p429 = p429
        self.p502 = p502
        self.retry_after = retry_after
        self.random = random.Random(seed)
        self.record_calls = record_calls
        self.blocked: set[int | str] = set()
        self.missing: set[int | str] = set()
        self.fail_schedule: deque[int] = deque()
        self.method_failures: dict[str, deque[int]] = defaultdict(deque)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every update, message and counter (failure settings stay)."""
        self.updates: deque[dict] = deque()
        self.next_update_id = 1000
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict]] = []
        self.callback_answers: list[dict] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_posts: list[tuple[int, int]] = []  # (update_id, HTTP status or 0 on connection error)
        self.handed_at: dict[int, float] = {}
        self.awaiting: dict[Any, deque[float]] = defaultdict(deque)
        self.latencies: list[float] = []
        self.status_counts: dict[int, int] = defaultdict(int)
        self.rate_limited = 0
        self.messages: dict[tuple[str, int], dict] = {}
        self._msg_ids: dict[str, int] = defaultdict(int)
        self._window: deque[float] = deque()
        self.peak_window = 0  # the most sendMessage calls counted in one second
        self.jitter_events = 0
        self._arrivals = 0
        self._next_jitter = self._jitter_gap()
        self._bunch: asyncio.Future | None = None
        self._chat_windows: dict[Any, deque[float]] = defaultdict(deque)
        self._waiters: list[asyncio.Future] = []
        self._chat_waiters: dict[str, list[asyncio.Future]] = {}
        self.by_chat: dict[str, list[Sent]] = defaultdict(list)
        self._poll_generation = 0
        self._delivery: asyncio.Queue | None = None
        self._delivery_tasks: list[asyncio.Task] = []

    async def start(self, port: int = 0) -> int:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_route("*", "/_fake/{action}", self._control)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        self._closing = True
        self._changed()
        for task in self._delivery_tasks:
            task.cancel()
        for task in self._delivery_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._delivery_tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    _closing = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the bot takes as its Bot API base URL (PTB's base_url; the token is appended)."""
        return f"{self.url}/bot"

    # --- waiting -------------------------------------------------------------------------------

    def _changed(self, chat: Any = None) -> None:
        """Wake every general waiter, and the waiters on `chat`'s messages."""
        super()._changed()
        if chat is not None:
            for fut in self._chat_waiters.pop(str(chat), []):
                if not fut.done():
                    fut.set_result(None)

    def messages_to(self, chat_id: int | str, method: str | None = "sendMessage") -> list[Sent]:
        """What the bot sent to a chat (sendMessage by default; method=None: edits too), oldest first."""
        if method == "sendMessage":
            return list(self.by_chat.get(str(chat_id), ()))
        key = str(chat_id)
        return [s for s in self.sent if str(s.chat_id) == key and (method is None or s.method == method)]

    async def wait_messages(self, chat_id: int | str, count: int = 1, *, after: int = 0,
                            within: float = 5.0) -> list[Sent]:
        """Wait until the chat has at least `after + count` messages; returns those after the first `after`.
        Wakes only on that chat's messages, so thousands of simulated users can wait at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        key = str(chat_id)
        while True:
            got = self.by_chat.get(key, [])
            if len(got) >= after + count:
                return list(got[after:])
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {within} s waiting for {count} message(s) to {chat_id} "
                                   f"after {after} (got {len(got) - after})")
            fut = loop.create_future()
            self._chat_waiters.setdefault(key, []).append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, remaining)

    # --- pushing updates -----------------------------------------------------------------------

    def _new_message_id(self, chat_id: int | str) -> int:
        self._msg_ids[str(chat_id)] += 1
        return self._msg_ids[str(chat_id)]

    @staticmethod
    def user_dict(user_id: int, first_name: str = "Người dùng", last_name: str | None = None,
                  username: str | None = None) -> dict:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "vi",
        }
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        return user

    @staticmethod
    def chat_dict(chat_id: int, first_name: str = "Người dùng") -> dict:
        if int(chat_id) < 0:
            return {"id": chat_id, "type": "supergroup", "title": "Nhóm tư vấn viên"}
        return {"id": chat_id, "type": "private", "first_name": first_name}

    def push_message(
        self,
        user_id: int,
        text: str | None,
        *,
        chat_id: int | None = None,
        first_name: str = "Người dùng",
        last_name: str | None = None,
        username: str | None = None,
        reply_to: int | None = None,
        extra: dict | None = None,
    ) -> int:
        """A user writes `text` (None: a sticker) privately or in group `chat_id`; returns update_id."""
        chat_id = user_id if chat_id is None else chat_id
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat_dict(chat_id, first_name),
            "from": self.user_dict(user_id, first_name, last_name, username),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        else:
            message["sticker"] = {"file_id": "S1", "file_unique_id": "S1u", "type": "regular", "width": 512,
                                  "height": 512, "is_animated": False, "is_video": False}
        if reply_to is not None:
            replied = self.messages.get((str(chat_id), reply_to))
            message["reply_to_message"] = replied or {
                "message_id": reply_to, "date": int(time.time()), "chat": self.chat_dict(chat_id)}
        if extra:
            message.update(extra)
        self.messages[(str(chat_id), message["message_id"])] = message
        return self.push_update({"message": message})

    def push_callback(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        chat_id: int | None = None,
        first_name: str = "Người dùng",
    ) -> int:
        """A user presses an inline button with callback `data` under message `message_id` (default: the
        chat's last message from the bot). Returns update_id."""
        chat_id = user_id if chat_id is None else chat_id
        if message_id is None:
            mine = self.messages_to(chat_id)
            message_id = mine[-1].message_id if mine else 1
        message = self.messages.get((str(chat_id), message_id)) or {
            "message_id": message_id, "date": int(time.time()), "chat": self.chat_dict(chat_id),
            "from": self._bot_user(), "text": "…"}
        self._cb_id = getattr(self, "_cb_id", 0) + 1
        return self.push_update(
            {
                "callback_query": {
                    "id": f"cb{self._cb_id}",
                    "from": self.user_dict(user_id, first_name),
                    "chat_instance": f"ci{chat_id}",
                    "message": message,
                    "data": data,
                }
            }
        )

    def push_update(self, update: dict) -> int:
        """Queue a raw update (update_id assigned when missing), or POST it when a webhook is set."""
        if "update_id" not in update:
            self.next_update_id += 1
            update = {"update_id": self.next_update_id, **update}
        else:
            self.next_update_id = max(self.next_update_id, int(update["update_id"]))
        if self.webhook is not None:
            self._ensure_delivery()
            assert self._delivery is not None
            self._delivery.put_nowait(update)
        else:
            self.updates.append(update)
        self._changed()
        return int(update["update_id"])

    @staticmethod
    def _chat_of(update: dict) -> Any:
        try:
            return FakeTelegram._chat_of_strict(update)
        except (TypeError, KeyError, AttributeError):  # a malformed update pushed on purpose
            return None

    @staticmethod
    def _chat_of_strict(update: dict) -> Any:
        if "message" in update:
            return update["message"]["chat"]["id"]
        if "callback_query" in update:
            msg = update["callback_query"].get("message")
            return msg["chat"]["id"] if msg else update["callback_query"]["from"]["id"]
        return None

    def _handed(self, update: dict) -> None:
        uid = int(update["update_id"])
        if uid in self.handed_at:
            return
        now = time.perf_counter()
        self.handed_at[uid] = now
        chat = self._chat_of(update)
        if chat is not None:
            self.awaiting[str(chat)].append(now)

    # --- webhook delivery ----------------------------------------------------------------------

    def _ensure_delivery(self) -> None:
        if self._delivery is None:
            self._delivery = asyncio.Queue()
        if not self._delivery_tasks:
            workers = int((self.webhook or {}).get("max_connections") or 40)
            self._delivery_tasks = [asyncio.create_task(self._deliver_loop()) for _ in range(workers)]

    async def _deliver_loop(self) -> None:
        assert self._delivery is not None
        while True:
            update = await self._delivery.get()
            try:
                await self._deliver(update)
            except Exception:
                log.exception("fake webhook delivery failed")

    async def _deliver(self, update: dict) -> None:
        for attempt in range(3):
            hook = self.webhook
            if hook is None:  # webhook deleted meanwhile: keep it for getUpdates
                self.updates.append(update)
                self._changed()
                return
            self._handed(update)
            status, _ = await self.post_webhook(update, secret=hook.get("secret_token"))
            self.webhook_posts.append((int(update["update_id"]), status))
            self._changed()
            if 200 <= status < 300 or status in (400, 401, 403):
                return
            await asyncio.sleep(0.05 * (attempt + 1))

    async def post_webhook(self, body: dict | bytes | str, *, secret: str | None = None,
                           headers: dict[str, str] | None = None, url: str | None = None) -> tuple[int, str]:
        """POST to the registered webhook (or `url`) the way Telegram does; for tests of forged requests
        pass any `secret` (None: no header) or raw bytes. Returns (status, body); status 0 when
        unreachable."""
        target = url or (self.webhook or {}).get("url")
        if not target:
            raise RuntimeError("no webhook set")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        hdrs = {"Content-Type": "application/json"}
        if secret is not None:
            hdrs["X-Telegram-Bot-Api-Secret-Token"] = secret
        hdrs.update(headers or {})
        data = body if isinstance(body, bytes | str) else json.dumps(body, ensure_ascii=False)
        try:
            async with self._session.post(target, data=data, headers=hdrs,
                                          timeout=aiohttp.ClientTimeout(total=10)) as resp:
                return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("fake webhook POST to %s failed: %s", target, exc)
            return 0, str(exc)

    # --- failure injection ---------------------------------------------------------------------

    def _jitter_gap(self) -> int:
        every = self.jitter.every if self.jitter else 0
        return self._jitter_random.randint(max(1, every // 2), max(1, every * 3 // 2)) if every else 0

    async def _arrive(self) -> None:
        """A sendMessage request reaches the server: disturb it (jitter), then count it by its arrival."""
        self._arrivals += 1
        jitter = self.jitter
        if self._bunch is not None and not self._bunch.done():
            await asyncio.shield(self._bunch)
        if jitter is not None and self._arrivals >= self._next_jitter:
            self._next_jitter = self._arrivals + self._jitter_gap()
            self.jitter_events += 1
            pause = self._jitter_random.uniform(0.0, jitter.max_ms / 1000)
            if jitter.mode == "stall":
                time.sleep(pause)  # noqa: ASYNC251 - the whole server stops, as in a garbage collection
            elif jitter.mode == "delay":
                await asyncio.sleep(pause)
            else:
                loop = asyncio.get_running_loop()
                self._bunch = loop.create_future()
                loop.call_later(pause, lambda f=self._bunch: f.done() or f.set_result(None))
                await asyncio.shield(self._bunch)
        if self.arrival_window and self.rate_limit is not None:
            _COUNTED.set(True)
            return self._count(time.monotonic())
        return None

    def _count(self, now: float) -> web.Response | None:
        """The overall sliding one-second window: a 429 when `rate_limit` calls are in it already."""
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= (self.rate_limit or 0):
            self.rate_limited += 1
            return _error(429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after)
        self._window.append(now)
        self.peak_window = max(self.peak_window, len(self._window))
        return None

    def fail_next(self, status: int, count: int = 1, method: str = "sendMessage") -> None:
        """The next `count` calls of `method` answer `status` (429 with retry_after, 502, 500...)."""
        if method == "sendMessage":
            self.fail_schedule.extend([status] * count)
        else:
            self.method_failures[method.lower()].extend([status] * count)

    def _injected(self, chat_id: Any) -> web.Response | None:
        key = chat_id if isinstance(chat_id, int) else str(chat_id)
        if key in self.blocked or str(key) in {str(b) for b in self.blocked}:
            return _error(403, "Forbidden: bot was blocked by the user")
        if key in self.missing or str(key) in {str(m) for m in self.missing}:
            return _error(400, "Bad Request: chat not found")
        status = self.fail_schedule.popleft() if self.fail_schedule else None
        if status is None and self.p429 and self.random.random() < self.p429:
            status = 429
        if status is None and self.p502 and self.random.random() < self.p502:
            status = 502
        if status == 429:
            return _error(429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after)
        if status is not None:
            return _error(status, "Bad Gateway" if status == 502 else f"Error {status}")
        now = time.monotonic()
        overall = self.rate_limit is not None and not _COUNTED.get()
        if overall:
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                self.rate_limited += 1
                return _error(429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after)
        if self.chat_rate_limit is not None:
            window = self._chat_windows[str(chat_id)]
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.chat_rate_limit:
                self.rate_limited += 1
                return _error(429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after)
            window.append(now)
        if overall:
            self._window.append(now)
            self.peak_window = max(self.peak_window, len(self._window))
        return None

    # --- the Bot API ---------------------------------------------------------------------------

    def _bot_user(self) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Chọn nghề", "username": BOT_USERNAME}

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in JSON_FIELDS:
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        for key in INT_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value.lstrip("-").isdigit():
                params[key] = int(value)
        for key in FLOAT_FIELDS:
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = float(params[key])
        return params

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        _COUNTED.set(False)  # a keep-alive connection's requests share one task, hence one context
        if method.lower() == "sendmessage" and (self.arrival_window or self.jitter is not None):
            refused = await self._arrive()
            if refused is not None:
                self.status_counts[refused.status] += 1
                return refused
        try:
            params = await self._params(request)
        except ValueError:
            return _error(400, "Bad Request: can't parse request body")
        if self.record_calls:
            self.calls.append((method, params))
        handler = getattr(self, "_m_" + method.lower(), None)
        if handler is None:
            return _error(404, "Not Found")
        planned = self.method_failures.get(method.lower())
        if planned:
            status = planned.popleft()
            response = (
                _error(429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after)
                if status == 429
                else _error(status, "Bad Gateway" if status == 502 else f"Error {status}")
            )
        else:
            response = await handler(params)
        self.status_counts[response.status] += 1
        return response

    async def _m_getme(self, params: dict) -> web.Response:
        return _ok({**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": False})

    async def _m_getupdates(self, params: dict) -> web.Response:
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        if offset:
            while self.updates and self.updates[0]["update_id"] < offset:
                self.updates.popleft()
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.updates and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            fut = loop.create_future()
            self._waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, remaining)
            if generation != self._poll_generation:
                return _error(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
        batch = [u for u in self.updates if u["update_id"] >= offset][:limit]
        for update in batch:
            self._handed(update)
        return _ok(batch)

    async def _m_setwebhook(self, params: dict) -> web.Response:
        url = params.get("url") or ""
        if not url:
            return await self._m_deletewebhook(params)
        secret = params.get("secret_token")
        if secret is not None and not (
            1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)
        ):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections") or 40,
            "allowed_updates": params.get("allowed_updates"),
        }
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self.updates.clear()
        pending = list(self.updates)
        self.updates.clear()
        for update in pending:
            self.push_update(update)
        self._changed()
        return _ok(True)

    async def _m_deletewebhook(self, params: dict) -> web.Response:
        self.webhook = None
        for task in self._delivery_tasks:
            task.cancel()
        self._delivery_tasks = []
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self.updates.clear()
        self._changed()
        return _ok(True)

    async def _m_getwebhookinfo(self, params: dict) -> web.Response:
        hook = self.webhook or {}
        pending = len(self.updates) + (self._delivery.qsize() if self._delivery else 0)
        info: dict[str, Any] = {"url": hook.get("url", ""), "has_custom_certificate": False,
                                "pending_update_count": pending}
        if hook:
            info["max_connections"] = hook.get("max_connections")
        return _ok(info)

    async def _m_setmycommands(self, params: dict) -> web.Response:
        self.commands = params.get("commands")
        return _ok(True)

    async def _m_deletemycommands(self, params: dict) -> web.Response:
        return _ok(True)

    async def _m_answercallbackquery(self, params: dict) -> web.Response:
        self.callback_answers.append(params)
        self._changed()
        return _ok(True)

    def _message_result(self, chat_id: Any, message_id: int, text: str, markup: dict | None) -> dict:
        chat = self.chat_dict(int(chat_id)) if str(chat_id).lstrip("-").isdigit() else {"id": chat_id,
                                                                                       "type": "private"}
        result: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat,
                                  "from": self._bot_user(), "text": text}
        if markup:
            result["reply_markup"] = markup
        return result

    async def _m_sendmessage(self, params: dict) -> web.Response:
        chat_id = params.get("chat_id")
        text = params.get("text")
        if chat_id in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        if not text:
            return _error(400, "Bad Request: message text is empty")
        if len(str(text).encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard") or []:
            for b in row:
                data = b.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                    return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        injected = self._injected(chat_id)
        if injected is not None:
            self._changed()
            return injected
        message_id = self._new_message_id(chat_id)
        now = time.perf_counter()
        sent = Sent(
            "sendMessage", chat_id, text, markup, message_id, now, params if self.record_calls else {}
        )
        self.sent.append(sent)
        self.by_chat[str(chat_id)].append(sent)
        result = self._message_result(chat_id, message_id, text, markup)
        self.messages[(str(chat_id), message_id)] = result
        waiting = self.awaiting.get(str(chat_id))
        if waiting:
            self.latencies.append(now - waiting.popleft())
        self._changed(chat_id)
        return _ok(result)

    async def _m_editmessagetext(self, params: dict) -> web.Response:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if (str(chat_id), message_id) not in self.messages:
            return _error(400, "Bad Request: message to edit not found")
        text = params.get("text") or ""
        markup = params.get("reply_markup")
        self.sent.append(
            Sent("editMessageText", chat_id, text, markup, message_id, time.perf_counter(), params)
        )
        result = self._message_result(chat_id, message_id, text, markup)
        self.messages[(str(chat_id), message_id)] = result
        self._changed()
        return _ok(result)

    async def _m_editmessagereplymarkup(self, params: dict) -> web.Response:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        old = self.messages.get((str(chat_id), message_id))
        if old is None:
            return _error(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        self.sent.append(Sent("editMessageReplyMarkup", chat_id, old.get("text", ""), markup, message_id,
                              time.perf_counter(), params))
        result = self._message_result(chat_id, message_id, old.get("text", ""), markup)
        self.messages[(str(chat_id), message_id)] = result
        self._changed()
        return _ok(result)

    # --- statistics and the control API --------------------------------------------------------

    def latency_summary(self) -> dict[str, float]:
        values = sorted(self.latencies)
        if not values:
            return {"count": 0}

        def pct(p: float) -> float:
            return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]

        return {
            "count": len(values),
            "p50_ms": pct(50) * 1000,
            "p90_ms": pct(90) * 1000,
            "p99_ms": pct(99) * 1000,
            "max_ms": values[-1] * 1000,
        }

    def stats(self) -> dict[str, Any]:
        return {"sent": sum(1 for s in self.sent if s.method == "sendMessage"),
                "pending_updates": len(self.updates),
                "status_counts": dict(self.status_counts), "rate_limited": self.rate_limited,
                "callback_answers": len(self.callback_answers), "webhook": self.webhook,
                "peak_window": self.peak_window, "jitter_events": self.jitter_events,
                "jitter": self.jitter.label() if self.jitter else None, "arrival_window": self.arrival_window,
                "latency": self.latency_summary()}

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body: dict[str, Any] = {}
        if request.body_exists:
            with contextlib.suppress(ValueError):
                body = await request.json()
        if action == "message":
            uid = self.push_message(
                int(body["user_id"]),
                body.get("text"),
                chat_id=body.get("chat_id"),
                first_name=body.get("first_name", "Người dùng"),
                reply_to=body.get("reply_to"),
            )
            return web.json_response({"update_id": uid})
        if action == "messages":  # many people write at once: first_id, first_id + 1, ... (benchmarks)
            first, count = int(body["first_id"]), int(body["count"])
            for n in range(count):
                self.push_message(first + n, body.get("text"), first_name=f"{body.get('name', 'Bạn')} {n}")
            return web.json_response({"pushed": count})
        if action == "callback":
            uid = self.push_callback(int(body["user_id"]), body["data"], message_id=body.get("message_id"),
                                     chat_id=body.get("chat_id"))
            return web.json_response({"update_id": uid})
        if action == "update":
            return web.json_response({"update_id": self.push_update(body)})
        if action == "sent":
            chat = request.query.get("chat_id")
            since = int(request.query.get("since", "0"))
            items = [s.as_json() for s in self.sent if chat is None or str(s.chat_id) == chat][since:]
            return web.json_response(items)
        if action == "config":
            for key in ("rate_limit", "chat_rate_limit", "p429", "p502", "retry_after"):
                if key in body:
                    setattr(self, key, body[key])
            if "blocked" in body:
                self.blocked = set(body["blocked"])
            if "missing" in body:
                self.missing = set(body["missing"])
            if "fail_next" in body:
                for status in body["fail_next"]:
                    self.fail_next(int(status))
            return web.json_response({"ok": True})
        if action == "stats":
            return web.json_response(self.stats())
        if action == "reset":
            self.reset()
            return web.json_response({"ok": True})
        return web.json_response({"error": "unknown action"}, status=404)


class FakeTelegramClient:
    """Drives a standalone fake (another process) through its /_fake/ control API."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, action: str, body: dict | None = None, **query: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(
            method,
            f"{self.url}/_fake/{action}",
            json=body,
            params={k: str(v) for k, v in query.items() if v is not None},
        ) as resp:
            return await resp.json()

    async def push_message(self, user_id: int, text: str, **kw: Any) -> int:
        return (await self._call("POST", "message", {"user_id": user_id, "text": text, **kw}))["update_id"]

    async def push_messages(self, first_id: int, count: int, text: str) -> None:
        """`count` people (ids first_id, first_id + 1, ...) each write `text`, in one request."""
        await self._call("POST", "messages", {"first_id": first_id, "count": count, "text": text})

    async def push_callback(self, user_id: int, data: str, **kw: Any) -> int:
        return (await self._call("POST", "callback", {"user_id": user_id, "data": data, **kw}))["update_id"]

    async def sent(self, chat_id: int | None = None, since: int = 0) -> list[dict]:
        return await self._call("GET", "sent", chat_id=chat_id, since=since)

    async def config(self, **settings: Any) -> None:
        await self._call("POST", "config", settings)

    async def stats(self) -> dict:
        return await self._call("GET", "stats")

    async def reset(self) -> None:
        await self._call("POST", "reset")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _serve(args: argparse.Namespace) -> None:
    # A fake that records every message grows large, and Python's full garbage collections then
    # stall it for tens of milliseconds; requests that queued meanwhile get timestamped together and
    # trip its own one-second rate window, so the benchmark measured the fake, not the bot (2 x 429
    # per 20,000 messages at 1,000/s). A standalone fake lives for one test or benchmark run: no
    # cyclic GC (reference counting still frees nearly everything).
    # `--gc` keeps it on: a server with the jitter of any real path (issue 15).
    import gc
    if not args.gc:
        gc.disable()
    fake = FakeTelegram(args.token, host=args.host, rate_limit=args.rate_limit, p429=args.p429,
                        p502=args.p502, retry_after=args.retry_after, seed=args.seed,
                        record_calls=not args.no_record_calls,
                        arrival_window=args.arrival_window, jitter=Jitter.parse(args.jitter))
    fake.blocked = {int(x) for x in args.blocked.split(",") if x.strip()}
    fake.missing = {int(x) for x in args.missing.split(",") if x.strip()}
    port = await fake.start(args.port)
    print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Telegram Bot API server for tests.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="sendMessage calls per second before 429"
    )
    parser.add_argument("--p429", type=float, default=0.0)
    parser.add_argument("--p502", type=float, default=0.0)
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blocked", default="", help="comma-separated chat ids answering 403")
    parser.add_argument("--missing", default="", help="comma-separated chat ids answering 400 chat not found")
    parser.add_argument("--no-record-calls", action="store_true", help="do not keep every call (long runs)")
    parser.add_argument("--arrival-window", action="store_true",
                        help="count sendMessage calls by their arrival, before the body is read")
    parser.add_argument("--gc", action="store_true", help="keep the cyclic garbage collector on")
    parser.add_argument("--jitter", default=None,
                        help="MODE[:MAX_MS[:EVERY]], MODE one of stall, delay, bunch")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
