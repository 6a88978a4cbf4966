"""The Telegram channel (python-telegram-bot v22 as the Bot API client; we do our own dispatch).

python-telegram-bot provides the Bot (getMe, setWebhook, deleteWebhook, setMyCommands,
answerCallbackQuery), the request layer with its HTTP error mapping (RetryAfter, Forbidden, BadRequest...)
and the transport interface; the two hot calls, getUpdates and sendMessage, go through the same request
objects with plain JSON, and updates are converted to Incoming straight from their JSON (parse_update):
building PTB objects for each update and sent message cost as much CPU as answering the question.

Receiving: polling (default; our own getUpdates loop with offset and long-poll timeout, backing off on
errors, never crashing) or webhook (POST /telegram/webhook on the project's aiohttp server, registered
with setWebhook at CHONNGHE_PUBLIC_URL + that path; the X-Telegram-Bot-Api-Secret-Token header is checked
in constant time: missing or forged -> 401 and nothing happens). Each update becomes a neutral Incoming
handed to the Conversation (one chat in order, chats concurrently). An update_id seen before (a webhook
redelivery, a poll repeated after a crash) is processed once: the processed_updates table (the app
prunes it after bot.channels.base.DEDUP_WINDOW).

Sending: replies become sendMessage calls with inline keyboards (url buttons as links, others as
callback data, at most 64 bytes), text split past 4,096 characters; Telegram errors are mapped to the
SendError classes (429 -> RateLimited, 403 / "chat not found" -> Blocked, other 400 -> Permanent,
network and 5xx -> Transient). Transport: bot.channels.telegram_request.AiohttpRequest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import Bot, BotCommand
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

from bot.channels.base import ChannelDeps, Off, ReceiveTrouble, Receiving, retry_until_done, send_pieces
from bot.channels.telegram_request import AiohttpRequest, JsonRequestData
from bot.ports import Blocked, Permanent, RateLimited, Transient
from bot.redact import register
from bot.text import split_text as text_pieces
from bot.text import utf16_len
from bot.types import Incoming, Reply, UserRef

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.ports import Inbox
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_KEY = "telegram.webhook_secret"  # kv row holding the generated secret when none is configured
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_TEXT = 4096  # Telegram's limit, in UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes
POLL_TIMEOUT = 25  # seconds a getUpdates call may wait (long polling)
POLL_LIMIT = 100
MAX_BACKOFF = 30.0
STOP_GRACE = 25.0  # seconds stop() waits for a polled batch still being deduplicated and handed over
LIVE_CONNECTIONS = 256  # concurrent connections for sendMessage & co. (the poller has its own two)

# Shown in Telegram's command menu (setMyCommands); the handlers accept more (staff commands, /vaitro...).
COMMANDS = [
    ("start", "Bắt đầu, chọn vai trò"),
    ("menu", "Các chức năng chính"),
    ("dangky", "Đăng ký nhận tin theo chủ đề"),
    ("huy", "Hủy nhận tin (một chủ đề hoặc tatca)"),
    ("chude", "Xem các chủ đề đang nhận"),
    ("tuvan", "Gửi câu hỏi cho tư vấn viên"),
    ("tracnghiem", "Trắc nghiệm sở thích chọn nghề"),
    ("dangkytuvan", "Đăng ký để được gọi tư vấn"),
    ("xoadulieu", "Xem và xóa dữ liệu của bạn"),
    ("trogiup", "Hướng dẫn sử dụng"),
    ("huybo", "Thoát thao tác đang làm"),
]


async def create(deps: ChannelDeps) -> TelegramChannel | Off:
    """Called by bot.app: the channel when CHONNGHE_TELEGRAM_TOKEN is set, else Off(why)."""
    settings = deps.settings
    if not settings.telegram_token:
        return Off("CHONNGHE_TELEGRAM_TOKEN is not set")
    if settings.telegram_mode == "webhook" and not settings.public_url:
        return Off("CHONNGHE_TELEGRAM_MODE=webhook needs CHONNGHE_PUBLIC_URL (where Telegram can reach us)")
    channel = TelegramChannel(settings, deps.store, deps.inbox)
    return channel


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units (how Telegram counts), cut as bot.text.split_text cuts."""
    return text_pieces(text, limit, utf16_len)


def keyboard(reply: Reply) -> dict | None:
    """The reply's buttons as an InlineKeyboardMarkup (JSON): links as url buttons, others callback data."""
    rows = []
    for row in reply.buttons:
        buttons = []
        for b in row:
            if b.url:
                buttons.append({"text": b.label, "url": b.url})
            elif b.payload and len(b.payload.encode("utf-8")) <= MAX_CALLBACK_DATA:
                buttons.append({"text": b.label, "callback_data": b.payload})
            else:
                log.error("button %r dropped: callback data must be 1-64 bytes (got %r)", b.label, b.payload)
        if buttons:
            rows.append(buttons)
    return {"inline_keyboard": rows} if rows else None


def _name(user: dict) -> str | None:
    name = " ".join(user[k] for k in ("first_name", "last_name") if isinstance(user.get(k), str) and user[k])
    username = user.get("username")
    return name or (username if isinstance(username, str) else None)


def _id(value: Any) -> str | None:
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None


class Malformed(ValueError):
    """An update with a field of the wrong type (a chat that is a list, a sender that is a string...)."""


def _obj(parent: dict, key: str) -> dict:
    """`parent[key]` when it is an object, {} when absent or null; anything else is Malformed."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{key} is a {type(value).__name__}, not an object")
    return value


def parse_update(update: dict, bot_id: int | None = None) -> Incoming | None:
    """The neutral Incoming for a Telegram update (the Bot API's JSON), or None for updates the bot ignores.

    We read the few fields we need from the JSON ourselves rather than building python-telegram-bot's
    Update objects: measured, that parsing cost as much CPU as the rest of an answer, and one odd update
    would make Bot.get_updates reject its whole batch. Anything malformed is logged once (here) and
    ignored, never raised: a poison update must not hold up or lose the updates around it."""
    try:
        if not isinstance(update, dict):
            raise Malformed(f"the update is a {type(update).__name__}")
        return _parse_update(update, bot_id)
    except Exception as exc:  # Malformed, or a shape nobody foresaw: the same answer
        ident = update.get("update_id") if isinstance(update, dict) else None
        log.warning(
            "telegram: malformed update %s ignored (%s: %s)",
            ident if isinstance(ident, int) else "?",
            type(exc).__name__,
            str(exc)[:200],
        )
        return None


def _parse_update(update: dict, bot_id: int | None) -> Incoming | None:
    query = update.get("callback_query")
    if query is not None:
        if not isinstance(query, dict):
            raise Malformed("callback_query is not an object")
        sender = _obj(query, "from")
        user_id = _id(sender.get("id"))
        data = query.get("data")
        if user_id is None or not isinstance(data, str):
            return None  # game callbacks, presses without a sender
        message = _obj(query, "message")
        chat_id = _id(_obj(message, "chat").get("id")) or user_id
        return Incoming(UserRef(CHANNEL, user_id), payload=data, chat_id=chat_id,
                        message_id=_id(message.get("message_id")), display_name=_name(sender))
    message = update.get("message")
    if message is not None:
        if not isinstance(message, dict):
            raise Malformed("message is not an object")
        sender = _obj(message, "from") or None
        chat_id = _id(_obj(message, "chat").get("id"))
        if sender is None or sender.get("is_bot") or _id(sender.get("id")) is None or chat_id is None:
            return None  # channel posts, anonymous admins, other bots
        text = message.get("text") if isinstance(message.get("text"), str) else None
        caption = message.get("caption") if isinstance(message.get("caption"), str) else None
        reply_to, reply_to_self = None, False
        replied = _obj(message, "reply_to_message")
        if replied:
            reply_to = _id(replied.get("message_id"))
            author = _obj(replied, "from")
            reply_to_self = bot_id is not None and author.get("id") == bot_id
        return Incoming(UserRef(CHANNEL, _id(sender["id"]) or ""), text=text or caption or "",
                        chat_id=chat_id, message_id=_id(message.get("message_id")), reply_to=reply_to,
                        display_name=_name(sender),
                        media=text is None and caption is None,  # a sticker, photo, voice note...
                        reply_to_self=reply_to_self)
    member = update.get("my_chat_member")
    if member is not None:
        if not isinstance(member, dict):
            raise Malformed("my_chat_member is not an object")
        chat = _obj(member, "chat")
        new = _obj(member, "new_chat_member")
        sender = _id(_obj(member, "from").get("id"))
        if chat.get("type") == "private" and new.get("status") == "kicked" and sender is not None:
            # The person blocked the bot: no reply is possible, but they must stop getting broadcasts.
            return Incoming(UserRef(CHANNEL, sender), event="unfollow", chat_id=_id(chat.get("id")))
    return None


def _retry_after(exc: RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None)  # a timedelta; the public property warns about ints in v22
    if isinstance(value, timedelta):
        return value.total_seconds()
    with contextlib.suppress(Exception):
        raw = exc.retry_after
        return raw.total_seconds() if isinstance(raw, timedelta) else float(raw)
    return 1.0


def map_error(exc: TelegramError) -> Exception:
    """A Telegram error as the SendError the callers of send() understand."""
    message = getattr(exc, "message", str(exc))
    if isinstance(exc, RetryAfter):
        return RateLimited(message, _retry_after(exc))
    if isinstance(exc, Forbidden):
        return Blocked(message)
    if isinstance(exc, BadRequest):  # a subclass of NetworkError in PTB: test it first
        if "chat not found" in message.lower() or "user is deactivated" in message.lower():
            return Blocked(message)
        return Permanent(message)
    if isinstance(exc, InvalidToken | ChatMigrated):
        return Permanent(message)
    return Transient(message)  # NetworkError, TimedOut, 5xx, Conflict...


class TelegramChannel(Receiving):
    """The adapter: `routes()`, `start()`, `stop()`, `send()`, `close()` (see bot.channels.base)."""

    name = CHANNEL
    webhook_path = WEBHOOK_PATH

    def __init__(self, settings: Settings, store: Store, inbox: Inbox, *, transport: str = "aiohttp",
                 connection_limit: int = LIVE_CONNECTIONS, poll_timeout: int = POLL_TIMEOUT):
        assert settings.telegram_token
        self.settings = settings
        self.store = store
        self.inbox = inbox
        self.mode = settings.telegram_mode
        self.poll_timeout = poll_timeout
        if transport == "aiohttp":
            self._requests: list[Any] = [AiohttpRequest(2, read_timeout=10.0),
                                         AiohttpRequest(connection_limit)]
            self.bot = Bot(settings.telegram_token, base_url=settings.telegram_api_url,
                           get_updates_request=self._requests[0], request=self._requests[1])
        elif transport == "httpx":  # PTB's default transport, kept for the benchmark's comparison
            self.bot = Bot(settings.telegram_token, base_url=settings.telegram_api_url)
            self._requests = list(self.bot._request)
        else:
            raise ValueError(f"unknown transport {transport!r}")
        try:
            self.bot_id: int | None = int(settings.telegram_token.split(":", 1)[0])
        except ValueError:
            self.bot_id = None
        self._secret: str | None = None
        self._offset: int | None = None
        self._acked: int | None = None
        self._runner: asyncio.Task | None = None
        self._intake: asyncio.Task | None = None  # the polled batch being deduplicated and handed over
        self._side: set[asyncio.Task] = set()
        self._accepting = False
        self.username: str | None = None
        self.trouble = ReceiveTrouble("Telegram")  # why receiving is failing, for /thongke

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP sessions, then start polling or register the webhook in the background."""
        for request in self._requests:
            await request.initialize()
        if self.mode == "webhook":
            configured = self.settings.telegram_webhook_secret
            self._secret = configured or await self.store.kv.setdefault(SECRET_KEY, secrets.token_urlsafe(32))
            register(self._secret)  # a generated one is not in the settings (bot.redact)
        self._accepting = True
        self._runner = asyncio.create_task(self._run(), name="telegram-runner")

    async def stop(self) -> None:
        """Stop receiving. A polled batch already taken in is handed to the conversation first, then
        its offset is confirmed; updates handed over finish (the app drains the conversation)."""
        self._accepting = False
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._runner = None
        intake, self._intake = self._intake, None
        if intake is not None and not intake.done():
            # Cancelling the poll loop does not cancel its batch (shielded): wait for it to reach the
            # conversation. If the database hangs past the grace, give up: the offset then covers only
            # what was handed over, and Telegram hands the rest out again at the next start.
            done, _ = await asyncio.wait([intake], timeout=STOP_GRACE)
            if not done:
                log.warning("telegram: a polled batch was still being taken in after %g s; its remaining "
                            "updates are left to Telegram for the next start", STOP_GRACE)
                intake.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await intake
        if self.mode == "polling" and self._offset is not None and self._offset != self._acked:
            # Confirm what was handed over, or Telegram hands it out again at the next start (harmless,
            # as update ids are deduplicated, but wasteful). The offset never passes an update that did
            # not reach the conversation.
            with contextlib.suppress(Exception):
                await self._requests[0].post(
                    f"{self.bot.base_url}/getUpdates",
                    JsonRequestData({"offset": self._offset, "limit": 1, "timeout": 0}),
                    read_timeout=5,
                )
                self._acked = self._offset
        if self._side:
            await asyncio.wait(set(self._side), timeout=5)

    async def close(self) -> None:
        """Release the HTTP sessions (after the conversation and the scheduler are done sending)."""
        for request in self._requests:
            with contextlib.suppress(Exception):
                await request.shutdown()

    async def _run(self) -> None:
        await self._hello()
        if self.mode == "webhook":
            await self._register_webhook()
        else:
            await self._poll()

    async def _hello(self) -> None:
        """getMe (checks the token) and the command menu; retried with backoff, never fatal."""
        delay = 1.0
        while True:
            try:
                me = await self.bot.get_me()
                self.username = me.username
                if me.id:
                    self.bot_id = me.id
                log.info("telegram: connected as @%s (%s mode)", me.username, self.mode)
                self.trouble.set(None)
                break
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("telegram: the token was rejected (CHONNGHE_TELEGRAM_TOKEN); retrying in 60 s")
                self.trouble.set("token bị từ chối, kiểm tra CHONNGHE_TELEGRAM_TOKEN")
                await asyncio.sleep(60)
            except Exception as exc:
                log.warning("telegram: getMe failed (%s); retrying in %.0f s", exc, delay)
                self.trouble.set("không kết nối được tới máy chủ Telegram")
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)
        with contextlib.suppress(Exception):
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])

    async def _register_webhook(self) -> None:
        url = (self.settings.public_url or "").rstrip("/") + WEBHOOK_PATH
        await retry_until_done(
            lambda: self.bot.set_webhook(url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES,
                                         max_connections=40),
            "telegram: setWebhook", log, most=MAX_BACKOFF)
        log.info("telegram: webhook registered at %s", url)

    # --- polling -------------------------------------------------------------------------------

    async def _poll(self) -> None:
        await retry_until_done(
            lambda: self.bot.delete_webhook(drop_pending_updates=False),  # else getUpdates: 409
            "telegram: deleteWebhook",
            log,
            most=MAX_BACKOFF,
        )
        delay = 1.0
        while True:
            try:
                updates = await self._get_updates()
                self._acked = self._offset
                self.trouble.set(None)
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                wait = _retry_after(exc)
                log.warning("telegram: getUpdates rate limited; waiting %.0f s", wait)
                await asyncio.sleep(wait)
                continue
            except InvalidToken:
                log.error("telegram: the token was rejected while polling; retrying in 60 s")
                self.trouble.set("token bị từ chối, kiểm tra CHONNGHE_TELEGRAM_TOKEN")
                await asyncio.sleep(60)
                continue
            except Conflict as exc:
                log.warning("telegram: getUpdates conflict (%s): another instance polling?", exc)
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)
                continue
            except Exception as exc:  # NetworkError, TimedOut, 5xx, a bug: never crash the loop
                log.warning("telegram: getUpdates failed (%s); retrying in %.0f s", exc, delay)
                self.trouble.set("không nhận được tin nhắn từ Telegram")
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)
                continue
            if updates:
                # Shielded: stop() cancels this loop, not the batch; it waits for the batch to reach the
                # conversation before confirming the offset, so an update is never confirmed to Telegram
                # and then dropped.
                self._intake = asyncio.create_task(self._take_in(updates), name="telegram-intake")
                await asyncio.shield(self._intake)
                self._intake = None

    async def _take_in(self, updates: list[dict]) -> None:
        try:
            await self._accept(updates)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("telegram: a batch of updates could not be handled")

    async def _get_updates(self) -> list[dict]:
        """One long poll, answered as raw JSON (see parse_update)."""
        params: dict[str, Any] = {"timeout": self.poll_timeout, "limit": POLL_LIMIT,
                                  "allowed_updates": ALLOWED_UPDATES}
        if self._offset is not None:
            params["offset"] = self._offset
        result = await self._requests[0].post(f"{self.bot.base_url}/getUpdates", JsonRequestData(params),
                                              read_timeout=self.poll_timeout + 10)
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)] \
            if isinstance(result, list) else []

    async def _accept(self, updates: list[dict]) -> None:
        """Dedupe a polled batch in one transaction, then hand each new update over in order. The offset
        (what the next getUpdates, or stop(), confirms to Telegram) moves past an update only once it has
        been handed to the conversation (or skipped as a repeat)."""
        if not updates:
            return
        keys = [str(u["update_id"]) for u in updates]
        try:
            fresh = await self.store.dedup.first_times(CHANNEL, keys)
        except Exception:
            # Better to risk handling a repeat than to drop a batch the dedup table cannot vouch for.
            log.exception("telegram: dedup check failed; handling the batch anyway")
            fresh = set(keys)
        for update in updates:
            key = str(update["update_id"])
            if key not in fresh:
                log.info("telegram: update %s seen before, skipped", key)
            else:
                fresh.discard(key)  # the same id twice in one batch counts once too
                try:
                    self._dispatch(update)
                except RuntimeError:  # the conversation is shutting down: leave it to Telegram
                    raise
                except Exception:  # never let one update keep the rest of the batch from the conversation
                    log.exception("telegram: update %s could not be handed over", key)
            self._offset = max(update["update_id"] + 1, self._offset or 0)

    def _dispatch(self, update: dict, once=None) -> None:
        """Answer a button press's spinner, convert the update and submit it to the conversation. A
        malformed update is logged (by parse_update) and dropped; RuntimeError means shutting down."""
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("id"), str):
            self._side_task(self._answer_callback(query["id"]))
        incoming = parse_update(update, self.bot_id)
        if incoming is not None:
            self.inbox.submit(incoming, once=once)

    def _side_task(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner at once; the reply itself follows as a message."""
        try:
            await self.bot.answer_callback_query(query_id)
        except Exception as exc:  # an old query (over 15 minutes) answers 400: harmless
            log.debug("telegram: answerCallbackQuery failed: %s", exc)

    # --- webhook -------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        if self._secret is None or not self._accepting:
            return web.Response(status=503, text="not ready")  # Telegram retries later
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8"), self._secret.encode("utf-8")):
            log.warning("telegram webhook: request without the right secret from %s refused", request.remote)
            return web.Response(status=401, text="unauthorized")
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="malformed JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        key = str(data["update_id"])

        async def once() -> bool:
            fresh = await self.store.dedup.first_time(CHANNEL, key)
            if not fresh:
                log.info("telegram: update %s delivered again, skipped", key)
            return fresh

        try:
            # Submitted in arrival order; the dedup check runs first inside the chat's queue, so a chat's
            # updates keep their order and the answer to Telegram is immediate.
            self._dispatch(data, once=once)
        except RuntimeError:  # shutting down: let Telegram deliver it again later
            return web.Response(status=503, text="shutting down")
        except Exception:  # acknowledged all the same: a 500 makes Telegram redeliver it again and again
            log.exception("telegram: update %s could not be handed over", key)
        return web.Response(status=200)

    # --- sending -------------------------------------------------------------------------------

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send one reply (split past 4,096 UTF-16 units, the buttons under the last piece); returns the
        last message's id. Once the first piece is delivered, a failing later piece is retried here and
        never resends the earlier ones (bot.channels.base.send_pieces)."""
        target: int | str = int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id
        text = reply.text if reply.text.strip() else "…"
        pieces = split_text(text)
        markup = keyboard(reply)
        params = [{"chat_id": target, "text": piece, "reply_markup": markup if i == len(pieces) - 1 else None}
                  for i, piece in enumerate(pieces)]

        async def send_one(piece: dict[str, Any]) -> str | None:
            result = await self.call("sendMessage", piece)
            return _id(result.get("message_id")) if isinstance(result, dict) else None

        return await send_pieces(params, send_one, channel=CHANNEL, chat_id=chat_id,
                                 size=lambda p: len(p["text"]))

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """One Bot API call with plain JSON parameters and a plain JSON result, through PTB's request
        object (its transport, its HTTP error handling); errors come out as SendError subclasses."""
        try:
            return await self._requests[1].post(f"{self.bot.base_url}/{method}", JsonRequestData(params))
        except TelegramError as exc:
            raise map_error(exc) from exc
