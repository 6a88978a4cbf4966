"""The Zalo Bot channel (Zalo Bot Platform, bot-api.zaloplatforms.com), on a thin aiohttp client of our own.

Why our own client: no maintained, async, current-Python library exists for the Zalo Bot API (the
Zalo SDKs on PyPI cover the Official Account API, are synchronous or unmaintained), and the API is
small and Telegram-like: `POST {CHONNGHE_ZALO_BOT_API_URL}/bot<TOKEN>/<method>` with a JSON body,
answered with `{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`.
We check `ok` in the body, not only the HTTP status.

Receiving: polling (default) or webhook.
- Polling: `getUpdates` returns one update per call and answers HTTP 408 when nothing arrived within
  its timeout (normal: poll again at once). There is no offset, so a message can be handed out again
  (after a crash, a retry): each (chat, message_id) is processed once, recorded in the processed_updates
  table through Store.dedup.first_time (source "zalo_bot"), so a restart does not reprocess either. Errors
  back off (1 s doubling to 30 s); the loop never crashes.
- Webhook: POST /zalo/bot/webhook on the project's aiohttp server, registered with `setWebhook`
  (url = CHONNGHE_PUBLIC_URL + path, secret_token = CHONNGHE_ZALO_BOT_SECRET) at start. The
  X-Bot-Api-Secret-Token header is compared in constant time: missing or wrong -> 401 and nothing happens.
  The request is answered at once; the update is handled asynchronously by the Conversation.

Updates look like `{"event_name": "message.text.received", "message": {"from": {"id", "display_name"},
"chat": {"id", "chat_type"}, "text", "message_id", "date"}}`, possibly wrapped in `{"ok", "result"}`;
both are accepted. Other message events (images, stickers...) reach the handlers as a message without
text (Incoming.media), which they answer with "Hiện mình chỉ đọc được tin nhắn dạng chữ...".

Sending: `sendMessage {chat_id, text}`, plain text only, 2,000 characters per message (longer replies are
split at paragraph, line or sentence ends). The platform has no buttons: bot.channels.numbered renders
them as a numbered list and maps a reply "2" back to the button's payload.

The token is part of every URL: it never appears in a log line or an exception text (scrubbed, and
aiohttp's own exceptions, which carry the URL, are not chained).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bot.channels.base import ChannelDeps, Off, ReceiveTrouble, Receiving, retry_until_done, send_pieces
from bot.channels.numbered import MenuMemory, Rendered, render
from bot.ports import Blocked, Permanent, RateLimited, SendError, Transient
from bot.storage.kv import dedup_digest
from bot.text import split_text as text_pieces
from bot.types import Incoming, Reply, UserRef

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.ports import Inbox
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

CHANNEL = "zalo_bot"
WEBHOOK_PATH = "/zalo/bot/webhook"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
MIN_SECRET = 8  # setWebhook rejects a secret_token shorter than 8 characters (or longer than 256)
MAX_SECRET = 256
MAX_TEXT = 2000  # sendMessage's limit
POLL_TIMEOUT = 30  # seconds a getUpdates call may wait before answering 408
MIN_IDLE_INTERVAL = 0.25  # a 408 faster than this means the server does not long-poll: do not spin
FIRST_BACKOFF = 1.0  # seconds after a first failure, doubling up to MAX_BACKOFF
MAX_BACKOFF = 30.0
TOKEN_RETRY = 60.0  # seconds between getMe attempts while the token is refused
STOP_GRACE = 25.0  # seconds stop() waits for messages still queued per chat
CONNECTIONS = 64
TEXT_EVENT = "message.text.received"


async def create(deps: ChannelDeps) -> ZaloBotChannel | Off:
    """Called by bot.app: the channel when CHONNGHE_ZALO_BOT_TOKEN is set, else Off(why)."""
    settings = deps.settings
    if not settings.zalo_bot_token:
        return Off("CHONNGHE_ZALO_BOT_TOKEN is not set")
    if settings.zalo_bot_mode == "webhook":
        if not settings.public_url:
            return Off("CHONNGHE_ZALO_BOT_MODE=webhook needs CHONNGHE_PUBLIC_URL "
                       "(the https address where Zalo can reach us)")
        secret = settings.zalo_bot_secret or ""
        if not secret:
            return Off("CHONNGHE_ZALO_BOT_MODE=webhook needs CHONNGHE_ZALO_BOT_SECRET (8 to 256 characters)")
        if not MIN_SECRET <= len(secret) <= MAX_SECRET:
            return Off("CHONNGHE_ZALO_BOT_SECRET must be 8 to 256 characters long")
    channel = ZaloBotChannel(settings, deps.store, deps.inbox)
    return channel


# --- the API client ------------------------------------------------------------------------------


class ZaloBotClient:
    """`call(method, params)` -> the `result` of one Bot API call, or a SendError subclass."""

    def __init__(self, api_url: str, token: str, *, connections: int = CONNECTIONS, timeout: float = 10.0):
        self._token = token
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self._connections = connections
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def scrub(self, text: str) -> str:
        """`text` without the token (for logs and exception messages)."""
        return text.replace(self._token, "<token>") if self._token else text

    async def open(self) -> None:
        """Open the pooled HTTP session (again, after a close)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post(self, method: str, params: dict[str, Any] | None = None,
                   *, wait: float | None = None) -> tuple[int, Any, str | None]:
        """(HTTP status, parsed JSON body or None, Retry-After header). Network errors -> Transient."""
        await self.open()
        assert self._session is not None
        limit = aiohttp.ClientTimeout(total=wait or self._timeout, sock_connect=5)
        try:
            async with self._session.post(f"{self._base}/{method}", json=params or {}, timeout=limit) as resp:
                raw = await resp.read()
                status, retry = resp.status, resp.headers.get("Retry-After")
        except TimeoutError:
            raise Transient(f"{method}: timed out") from None
        except aiohttp.ClientError as exc:
            # aiohttp's exceptions may carry the URL, hence the token: rebuild the text, do not chain.
            raise Transient(self.scrub(f"{method}: network error ({type(exc).__name__}: {exc})")) from None
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        return status, body, retry

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, wait: float | None = None
    ) -> Any:
        """Call an API method; returns its `result`, or raises the send error the answer maps to."""
        status, body, retry = await self.post(method, params, wait=wait)
        if status == 200 and isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        raise map_error(method, status, body, retry, self.scrub)


# Blocked needs the platform to say the recipient is gone: a description naming the user / chat and
# what happened to it. A bare 404 / "Not Found" is about the URL or the method (a typo in
# CHONNGHE_ZALO_BOT_API_URL, a proxy, a renamed endpoint, a malformed token): marking the recipient
# inactive on it would deactivate every subscriber in one broadcast.
# Whole words: "method sendChatAction not found" or "chat_id is required" do not name a recipient.
_RECIPIENT = re.compile(r"\b(?:user|chat|recipient)s?\b|người dùng|người nhận|cuộc trò chuyện", re.IGNORECASE)
_GONE = re.compile(r"block|not found|not exist|deactivated|chặn|không tồn tại|không tìm thấy", re.IGNORECASE)


def _recipient_gone(description: str) -> bool:
    return bool(_RECIPIENT.search(description) and _GONE.search(description))


def map_error(method: str, status: int, body: Any, retry_header: str | None = None,
              scrub=lambda s: s) -> SendError:
    """A failed call as the SendError the callers of send() understand: 429 -> RateLimited, 5xx and 408 ->
    Transient, 403 or a description saying the user / chat blocked the bot or does not exist -> Blocked,
    anything else (400, 401, a bare 404 "Not Found" for the URL or method...) -> Permanent."""
    # The Bot API answers errors as {"ok": false, ...}; an HTML page or an empty body comes from something
    # in between (a proxy, a firewall, a wrong URL) and says nothing about the recipient.
    from_api = isinstance(body, dict) and body.get("ok") is False
    body = body if isinstance(body, dict) else {}
    code = body.get("error_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else status
    described = body.get("description")
    description = described if isinstance(described, str) and described else f"HTTP {status}"
    reason = scrub(f"{method}: {code} {description}"[:300])
    if status == 429 or code == 429:
        retry_after = 1.0
        params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        for value in (params.get("retry_after"), body.get("retry_after"), retry_header):
            with contextlib.suppress(TypeError, ValueError):
                if value is not None:
                    retry_after = max(0.0, float(value))
                    break
        return RateLimited(reason, retry_after)
    if status >= 500 or code >= 500 or status == 408 or code == 408:
        return Transient(reason)
    if status == 401 or code == 401:
        return Permanent(reason)  # the token was rejected: no message will go through until it is fixed
    if from_api and (status == 403 or code == 403 or _recipient_gone(description)):
        return Blocked(reason)
    if status == 404 or code == 404:
        # The URL or the method, not the recipient: no message will go through until the configuration
        # is fixed, and nobody is marked inactive for it.
        return Permanent(f"{reason} (check CHONNGHE_ZALO_BOT_API_URL and the token)")
    return Permanent(reason)


# --- parsing -------------------------------------------------------------------------------------


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text or None


def unwrap(data: Any) -> list[dict]:
    """The updates in a getUpdates answer or a webhook body: a bare update, `{ok, result: update}` or
    `{ok, result: [updates]}`. Anything else gives no update."""
    if not isinstance(data, dict):
        return []
    if "result" in data and "message" not in data and "event_name" not in data:
        if data.get("ok") is False:
            return []
        result = data["result"]
        items = result if isinstance(result, list) else [result]
        return [u for u in items if isinstance(u, dict) and ("message" in u or "event_name" in u)]
    return [data] if ("message" in data or "event_name" in data) else []


def parse_update(update: dict) -> Incoming | None:
    """The neutral Incoming for one update, or None for what the bot ignores (not a message, sent by a bot,
    malformed: logged once here, never raised). Text messages carry their text; other message events are
    Incoming.media."""
    try:
        if not isinstance(update, dict):
            raise ValueError(f"the update is a {type(update).__name__}")
        return _parse_update(update)
    except Exception as exc:
        log.warning("zalo_bot: malformed update ignored (%s: %s)", type(exc).__name__, str(exc)[:200])
        return None


def _parse_update(update: dict) -> Incoming | None:
    event = update.get("event_name")
    message = update.get("message")
    if not isinstance(message, dict):
        if message is not None:
            raise ValueError(f"message is a {type(message).__name__}")
        return None
    if event is not None and (not isinstance(event, str) or not event.startswith("message.")):
        if not isinstance(event, str):
            raise ValueError(f"event_name is a {type(event).__name__}")
        return None
    sender, chat = message.get("from"), message.get("chat")
    for key, value in (("from", sender), ("chat", chat)):
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"message.{key} is a {type(value).__name__}")
    sender, chat = sender or {}, chat or {}
    sender_id, chat_id = _id(sender.get("id")), _id(chat.get("id"))
    if sender.get("is_bot") is True or (sender_id is None and chat_id is None):
        return None
    group = str(chat.get("chat_type") or "").upper() == "GROUP"
    name = sender.get("display_name") or sender.get("name")
    name = name if isinstance(name, str) and name.strip() else None
    extra: dict[str, str] = {"event": str(event or TEXT_EVENT)}
    text = message.get("text") if isinstance(message.get("text"), str) else None
    media = event not in (None, TEXT_EVENT) or text is None  # an image, a sticker, a voice note...
    if media:
        text = ""
    if group:
        if sender_id is None or chat_id is None:
            return None
        user, where = sender_id, chat_id
    else:
        # A private chat: we answer (and later broadcast) to the chat id, which is what sendMessage takes.
        user = chat_id or sender_id
        where = user
        if sender_id and sender_id != user:
            extra["from_id"] = sender_id
    return Incoming(UserRef(CHANNEL, user or ""), text=text, chat_id=where,
                    message_id=_id(message.get("message_id")), display_name=name, media=media, extra=extra)


def dedup_key(incoming: Incoming, update: dict | None = None) -> str | None:
    """What makes a message unique for the processed_updates table, as a digest (the table must not hold
    the person's chat id: /xoadulieu): chat and message id; without a message id, the update itself
    (its canonical JSON: chat, sender, date, event, text), which a redelivery repeats exactly. Without a
    date either, the same text sent twice counts once: the platform gives nothing else to tell them apart."""
    if incoming.message_id:
        return dedup_digest(str(incoming.chat_id), incoming.message_id)
    if update is None:
        return None
    try:
        canonical = json.dumps(update, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return None
    return dedup_digest(str(incoming.chat_id), "update", canonical)


# --- splitting -----------------------------------------------------------------------------------


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` characters, cut as bot.text.split_text cuts."""
    return text_pieces(text, limit)


def pieces_of(rendered: Rendered, limit: int = MAX_TEXT) -> list[str]:
    """The messages for one rendered reply: the body split to fit, the numbered block kept whole in the
    last message (alone if it does not fit beside the body's end)."""
    if not rendered.block:
        return split_text(rendered.body if rendered.body.strip() else "…", limit)
    if not rendered.body.strip():
        return split_text(rendered.block, limit)
    if len(rendered.text) <= limit:
        return [rendered.text]
    pieces = split_text(rendered.body, limit)
    joined = f"{pieces[-1].rstrip()}\n\n{rendered.block}"
    if len(joined) <= limit:
        return [*pieces[:-1], joined]
    return [*pieces, *split_text(rendered.block, limit)]


# --- the adapter ---------------------------------------------------------------------------------


class ZaloBotChannel(Receiving):
    """The adapter: `routes()`, `start()`, `stop()`, `send()`, `close()` (see bot.channels.base)."""

    name = CHANNEL
    webhook_path = WEBHOOK_PATH

    def __init__(self, settings: Settings, store: Store, inbox: Inbox, *,
                 poll_timeout: int = POLL_TIMEOUT):
        assert settings.zalo_bot_token
        self.settings = settings
        self.store = store
        self.inbox = inbox
        self.mode = settings.zalo_bot_mode
        self.poll_timeout = poll_timeout
        self.client = ZaloBotClient(settings.zalo_bot_api_url, settings.zalo_bot_token)
        self.menus = MenuMemory(store, CHANNEL)
        self._secret = settings.zalo_bot_secret or ""
        self._runner: asyncio.Task | None = None
        self._intake: dict[str, asyncio.Task] = {}  # chat -> its newest update on the way to the conversation
        self._side: set[asyncio.Task] = set()
        self._accepting = False
        self.bot_name: str | None = None
        self.trouble = ReceiveTrouble("Zalo Bot")  # why receiving is failing, for /thongke

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and start polling or register the webhook in the background."""
        await self.client.open()
        self._accepting = True
        self._runner = asyncio.create_task(self._run(), name="zalo-bot-runner")

    async def stop(self) -> None:
        """Stop receiving; updates already taken in reach the conversation (the app then drains it)."""
        self._accepting = False
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._runner = None
        if self._side:
            # Messages taken in but queued behind their chat's previous one still reach the conversation
            # (the app drains it right after, with a 30 s grace).
            _, late = await asyncio.wait(set(self._side), timeout=STOP_GRACE)
            if late:
                # Those already submitted finish in the conversation regardless; say how many did not
                # get that far rather than let them fail later against a closed store.
                log.warning("zalo_bot: stopping with %d message(s) still queued after %g s; those not yet "
                            "handed to the conversation are not handled", len(late), STOP_GRACE)
                for task in late:
                    task.cancel()

    async def close(self) -> None:
        """Release the HTTP session (after the conversation and the scheduler are done sending)."""
        await self.client.close()

    async def _run(self) -> None:
        await self._hello()
        if self.mode == "webhook":
            await self._register_webhook()
        else:
            await self._poll()

    async def _hello(self) -> None:
        """getMe (checks the token); retried with backoff, never fatal."""
        delay = FIRST_BACKOFF
        while True:
            try:
                me = await self.client.call("getMe")
                me = me if isinstance(me, dict) else {}
                self.bot_name = me.get("account_name") or me.get("display_name") or me.get("name")
                log.info("zalo_bot: connected as %s (%s mode)", self.bot_name, self.mode)
                self.trouble.set(None)
                return
            except asyncio.CancelledError:
                raise
            except Permanent as exc:
                log.error("zalo_bot: getMe refused (%s): check CHONNGHE_ZALO_BOT_TOKEN (and "
                          "CHONNGHE_ZALO_BOT_API_URL); retrying in %.0f s",
                          self._text(exc), TOKEN_RETRY)
                self.trouble.set("token bị từ chối, kiểm tra CHONNGHE_ZALO_BOT_TOKEN")
                await asyncio.sleep(TOKEN_RETRY)
            except Exception as exc:
                log.warning("zalo_bot: getMe failed (%s); retrying in %.0f s", self._text(exc), delay)
                self.trouble.set("không kết nối được tới máy chủ Zalo Bot")
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)

    async def _register_webhook(self) -> None:
        url = (self.settings.public_url or "").rstrip("/") + WEBHOOK_PATH
        await retry_until_done(
            lambda: self.client.call("setWebhook", {"url": url, "secret_token": self._secret}),
            "zalo_bot: setWebhook",
            log,
            describe=self._text,
            on_failure=lambda: self.trouble.set("không đăng ký được webhook với Zalo Bot"),
            first=FIRST_BACKOFF,
            most=MAX_BACKOFF,
        )
        log.info("zalo_bot: webhook registered at %s", url)

    def _text(self, exc: BaseException) -> str:
        return self.client.scrub(exc.reason if isinstance(exc, SendError) else f"{type(exc).__name__}: {exc}")

    # --- polling -------------------------------------------------------------------------------

    async def _poll(self) -> None:
        try:
            # getUpdates does not work while a webhook is set (a school that switched back to polling).
            await self.client.call("deleteWebhook")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("zalo_bot: deleteWebhook failed (%s); polling anyway", self._text(exc))
        loop = asyncio.get_running_loop()
        delay = FIRST_BACKOFF
        while True:
            began = loop.time()
            # Shielded so that a stop() landing just as an answer arrives still takes its update in (no
            # offset: the server does not hand it out again); a poll still waiting is cancelled.
            poll = asyncio.ensure_future(self._get_updates())
            try:
                updates = await asyncio.shield(poll)
                self.trouble.set(None)
                delay = FIRST_BACKOFF
            except asyncio.CancelledError:
                if poll.done() and not poll.cancelled() and poll.exception() is None:
                    for update in poll.result() or []:
                        with contextlib.suppress(Exception):
                            self._accept(update)  # stop() waits for the hand-over
                else:
                    poll.cancel()
                raise
            except RateLimited as exc:
                log.warning("zalo_bot: getUpdates rate limited; waiting %.0f s", exc.retry_after)
                await asyncio.sleep(min(max(exc.retry_after, FIRST_BACKOFF), MAX_BACKOFF))
                continue
            except Permanent as exc:
                log.error("zalo_bot: getUpdates refused (%s); retrying in %.0f s", self._text(exc), delay)
                if "401" in exc.reason:
                    self.trouble.set("token bị từ chối, kiểm tra CHONNGHE_ZALO_BOT_TOKEN")
                else:
                    self.trouble.set("không nhận được tin nhắn từ Zalo Bot")
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)
                continue
            except Exception as exc:  # network, 5xx, a bug: never crash the loop
                log.warning("zalo_bot: getUpdates failed (%s); retrying in %.0f s", self._text(exc), delay)
                self.trouble.set("không nhận được tin nhắn từ Zalo Bot")
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)
                continue
            if updates is None:  # 408: nothing arrived, poll again at once
                spent = loop.time() - began
                if spent < MIN_IDLE_INTERVAL:
                    await asyncio.sleep(MIN_IDLE_INTERVAL - spent)
                continue
            for update in updates:
                try:
                    self._accept(update)
                except Exception as exc:
                    log.warning("zalo_bot: an update could not be handled: %s", self._text(exc))

    async def _get_updates(self) -> list[dict] | None:
        """One long poll: the updates it brought, or None when it timed out idle (HTTP 408)."""
        status, body, retry = await self.client.post("getUpdates", {"timeout": str(self.poll_timeout)},
                                                     wait=self.poll_timeout + 10)
        error_code = body.get("error_code") if isinstance(body, dict) else None
        if status == 408 or error_code == 408:
            return None
        if status == 200 and isinstance(body, dict) and (body.get("ok") is True or "ok" not in body):
            return unwrap(body)  # {ok, result: update}, or a bare update
        raise map_error("getUpdates", status, body, retry, self.client.scrub)

    # --- taking updates in ---------------------------------------------------------------------

    def _accept(self, update: dict) -> bool:
        """Convert one update and queue it for its chat; False when it is ignored."""
        incoming = parse_update(update)
        if incoming is None:
            log.debug("zalo_bot: update ignored (event %r)", update.get("event_name"))
            return False
        chat = incoming.chat_id or incoming.user.user_id
        previous = self._intake.get(chat)
        task = asyncio.create_task(self._hand_over(previous, incoming, dedup_key(incoming, update)))
        self._intake[chat] = task
        self._side.add(task)

        def _done(t: asyncio.Task) -> None:
            self._side.discard(t)
            if self._intake.get(chat) is t:
                del self._intake[chat]

        task.add_done_callback(_done)
        return True

    async def _hand_over(self, previous: asyncio.Task | None, incoming: Incoming, key: str | None) -> None:
        """Map a bare number to the chat's last menu, then submit to the conversation; done when the
        conversation has answered it. A chat's next message waits for that: its number must be read
        against the menu the answer to this one shows (someone typing "1" then "2" quickly answers two
        menus), and a later message must not overtake an earlier one. Chats run concurrently."""
        if previous is not None:
            await asyncio.wait([previous])
        incoming = await self.menus.resolve(incoming)
        once = None
        if key is not None:
            async def once() -> bool:
                fresh = await self.store.dedup.first_time(CHANNEL, key)
                if not fresh:
                    log.info("zalo_bot: message %s seen before, skipped", incoming.message_id)
                return fresh
        try:
            handled = self.inbox.submit(incoming, once=once)
        except RuntimeError:
            log.warning("zalo_bot: shutting down, message %s from %s not handled", incoming.message_id,
                        incoming.user)
            return
        await asyncio.wait([handled])

    # --- webhook -------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        if not self._accepting:
            return web.Response(status=503, text="not ready")  # Zalo delivers it again later
        given = request.headers.get(SECRET_HEADER, "")
        if not self._secret or not hmac.compare_digest(given.encode("utf-8"), self._secret.encode("utf-8")):
            log.warning("zalo_bot webhook: request without the right secret from %s refused", request.remote)
            return web.Response(status=401, text="unauthorized")
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="malformed JSON")
        if not isinstance(data, dict):
            return web.Response(status=400, text="not an update")
        updates = unwrap(data)
        if not updates and data.get("ok") is not False:
            return web.Response(status=400, text="not an update")
        for update in updates:
            try:
                self._accept(update)
            except Exception:  # acknowledged all the same: a 500 would have Zalo redeliver it
                log.exception("zalo_bot: an update could not be handed over")
        return web.json_response({"ok": True})

    # --- sending -------------------------------------------------------------------------------

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send one reply (split past 2,000 characters); returns the last message's id. Once the first
        piece is out, a failing later piece is retried here and never resends the earlier ones
        (bot.channels.base.send_pieces)."""
        rendered = render(reply)
        # Remembered before sending, so an answer typed the moment the message shows finds its menu.
        try:
            await self.menus.remember(chat_id, rendered.menu)
        except Exception as exc:
            log.warning("zalo_bot: keeping the menu failed (%s); numbers will read as text", exc)
        async def send_one(piece: str) -> str | None:
            result = await self.client.call("sendMessage", {"chat_id": chat_id, "text": piece})
            return _id(result.get("message_id")) if isinstance(result, dict) else None

        return await send_pieces(pieces_of(rendered), send_one, channel=CHANNEL, chat_id=chat_id, size=len)
