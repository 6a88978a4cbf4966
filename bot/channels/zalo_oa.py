"""The Zalo Official Account channel (OA Open API v3), on a thin aiohttp client of our own.

Why our own client: no maintained, async, current-Python library exists for the OA API (the packages on
PyPI are synchronous, wrap the retired v2 message API, or are abandoned), and the part we need is small:
one send endpoint, one OAuth refresh and one webhook.

Receiving: Zalo POSTs events to /zalo/oa/webhook on the project's HTTP server. Each request carries
`X-ZEvent-Signature: mac=<hex>`, mac = SHA-256 hex of app_id + the raw body + timestamp + the OA secret
key (app_id and timestamp read from the JSON body; the raw bytes hashed as received); compared in constant
time. Missing or forged -> 401 and nothing happens; malformed JSON -> 400; signed more than REPLAY_WINDOW
(an hour) from now -> 401 (a replay). Otherwise we answer 200 at once and
the event goes through the Conversation (one chat in order). Zalo retries deliveries, so a msg_id seen
before is dropped (the processed_updates table, source "zalo_oa").
Events: user_send_text -> a message (or a button press, see below); follow -> Incoming event "follow"
(the handlers welcome); unfollow -> event "unfollow" (the user is marked inactive); images, stickers,
files... -> a message flagged as media (answered: the bot reads text); everything else is ignored.

Sending: POST {CHONNGHE_ZALO_OA_API_URL}/v3.0/oa/message/cs with the `access_token` header and
{recipient: {user_id}, message: {text, attachment?}}. Text is cut into pieces of at most 2,000 characters
(the API's limit). Up to 5 buttons go in a template attachment (`payload.buttons`): links as
`oa.open.url`, the others as `oa.query.show`, whose payload Zalo sends back as the person's own visible
text message; we make that text the button's label, remember label -> payload per chat (kv table, so a
restart or another worker still knows), and turn the echoed label back into an Incoming with the payload.
More than 5 buttons (Zalo's limit) become a numbered list (bot.channels.numbered); a typed number is
mapped back the same way.

Tokens: bot.channels.zalo_oauth (refreshed before expiry, and once on -216 / -220 / HTTP 401, then the
call is retried once). A dead refresh token pauses the channel: sends raise Deferred, `status` and
`alerts()` say why (/thongke, /healthz), nothing crashes.

Errors (HTTP 200 with `error` < 0): -213 not a follower, -227 banned or inactive -> Blocked; -230 / -232
outside the interaction window -> Skipped; -32 rate limit -> RateLimited; -234 no messages at night ->
Deferred until 07:00 Asia/Ho_Chi_Minh; other codes -> Permanent; network errors and 5xx -> Transient.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import re
from collections import OrderedDict
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bot.channels.base import ChannelDeps, Off, send_pieces
from bot.channels.numbered import Menu, MenuMemory, render
from bot.channels.zalo_oauth import TokenDead, TokenUnavailable, ZaloTokens, stored_pair_exists
from bot.ports import Blocked, Deferred, Permanent, RateLimited, Skipped, Transient
from bot.storage.kv import chat_key, dedup_digest
from bot.text import split_text, utf16_len
from bot.types import Incoming, Reply, UserRef

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.ports import Inbox
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
WEBHOOK_PATH = "/zalo/oa/webhook"
SIGNATURE_HEADER = "X-ZEvent-Signature"
SEND_PATH = "/v3.0/oa/message/cs"
MAX_TEXT = 2000  # characters per message (OA API v3 "text" limit)
MAX_BUTTONS = 5  # buttons per template message
MAX_TITLE = 100  # characters of a button title
MAX_QUERY_PAYLOAD = 1000  # characters of an oa.query.show payload
TOKEN_ERRORS = {-216, -220}  # access token invalid / expired: refresh once, retry once
BLOCKED = {-213: "not a follower of the OA", -227: "user banned or inactive"}
OUTSIDE_WINDOW = {-230: "outside the interaction window", -232: "outside the interaction window"}
RATE_LIMITED = -32
NIGHT = -234  # Zalo refuses some messages at night
MORNING = time(7, 0)
NIGHT_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
RATE_LIMIT_PAUSE = 60.0  # seconds: -32 carries no retry-after
PAUSED_RETRY = 900.0  # seconds a send waits while the token pair is dead
LABELS_TTL = timedelta(days=30)
LABELS_PER_CHAT = 40
LABELS_CACHE = 10_000
MEDIA_EVENTS = {"user_send_image", "user_send_gif", "user_send_sticker", "user_send_audio", "user_send_video",
                "user_send_file", "user_send_location", "user_send_link", "user_send_business_card"}
# An event whose signed timestamp is further than this from now is refused (401). Why: the signature
# covers the timestamp, so the window is what stops a captured request from being replayed later, in
# particular after its msg_id has left the dedup table (pruned after bot.channels.base.DEDUP_WINDOW, two
# days): the window must be well inside that. An hour either way leaves room for Zalo's own redeliveries
# (seconds to minutes after the first try) and for clocks that are off by minutes.
REPLAY_WINDOW = timedelta(hours=1)
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=5)
CONNECTIONS = 64


async def create(deps: ChannelDeps) -> ZaloOAChannel | Off:
    """Called by bot.app: the channel when the OA is configured (app id, secret key, a token pair in the
    environment or the database), else Off(why)."""
    settings = deps.settings
    missing = [
        name
        for name, value in (
            ("CHONNGHE_ZALO_OA_APP_ID", settings.zalo_oa_app_id),
            ("CHONNGHE_ZALO_OA_SECRET_KEY", settings.zalo_oa_secret_key),
        )
        if not value
    ]
    if missing:
        return Off(" and ".join(missing) + (" is" if len(missing) == 1 else " are") + " not set")
    if not (settings.zalo_oa_access_token and settings.zalo_oa_refresh_token) \
            and not await _has_stored_pair(deps.store):
        return Off("no token pair: set CHONNGHE_ZALO_OA_ACCESS_TOKEN and CHONNGHE_ZALO_OA_REFRESH_TOKEN "
                   "(the first time only; later pairs are kept in the database)")
    if not settings.zalo_oa_app_secret:
        log.warning(
            "zalo_oa: CHONNGHE_ZALO_OA_APP_SECRET is not set: the access token cannot be refreshed and "
            "the channel will pause when it expires"
        )
    channel = ZaloOAChannel(settings, deps.store, deps.inbox)
    return channel


async def _has_stored_pair(store: Store) -> bool:
    """Whether an earlier run kept a token pair in the database (after the first start the environment
    may hold none)."""
    try:
        return await stored_pair_exists(store)
    except Exception as exc:
        log.warning("zalo_oa: looking for a stored token pair failed: %s", exc)
        return False


# --- signatures and parsing ---------------------------------------------------------------------


_MAC = re.compile(r"(?:mac=)?\s*[0-9a-f]{64}", re.IGNORECASE)


def signature(app_id: str, body: bytes, timestamp: str, secret_key: str) -> str:
    """The hex SHA-256 Zalo puts after "mac=" in X-ZEvent-Signature."""
    digest = hashlib.sha256()
    digest.update(app_id.encode("utf-8"))
    digest.update(body)
    digest.update(timestamp.encode("utf-8"))
    digest.update(secret_key.encode("utf-8"))
    return digest.hexdigest()


def _scalar(value: Any) -> str | None:
    """A JSON string or integer as text (Zalo sends ids and timestamps as either)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


def verify(header: str | None, body: bytes, event: dict, secret_key: str) -> bool:
    """True when `header` is the right signature of `body` (the raw bytes) for this OA."""
    if not header:
        return False
    given = header.strip()
    if given.lower().startswith("mac="):
        given = given[4:].strip()
    app_id, timestamp = _scalar(event.get("app_id")), _scalar(event.get("timestamp"))
    if app_id is None or timestamp is None:
        return False
    expected = signature(app_id, body, timestamp, secret_key)
    return hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode("ascii"))


def signed_at(event: dict) -> datetime | None:
    """When Zalo signed the event (its `timestamp`, milliseconds since the epoch), or None when unreadable."""
    raw = _scalar(event.get("timestamp"))
    if raw is None or not raw.strip().isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def fold_label(text: str) -> str:
    """A button label as compared with what a person typed: single spaces, case folded."""
    return " ".join(text.split()).casefold()


def _sender(event: dict, key: str) -> str | None:
    who = event.get(key)
    return _scalar(who.get("id")) if isinstance(who, dict) else None


def parse_event(event: dict) -> tuple[Incoming | None, str | None]:
    """(Incoming, dedup key) for a webhook event; (None, None) for events the bot ignores. A malformed
    event (a field of the wrong type) is logged once here and ignored, never raised."""
    try:
        if not isinstance(event, dict):
            raise ValueError(f"the event is a {type(event).__name__}")
        return _parse_event(event)
    except Exception as exc:
        log.warning("zalo_oa: malformed event ignored (%s: %s)", type(exc).__name__, str(exc)[:200])
        return None, None


def _parse_event(event: dict) -> tuple[Incoming | None, str | None]:
    name = event.get("event_name")
    if not isinstance(name, str):
        raise ValueError(f"event_name is a {type(name).__name__}")
    timestamp = _scalar(event.get("timestamp")) or ""
    if name in ("follow", "unfollow"):
        user = _sender(event, "follower") or _sender(event, "sender")
        if user is None:
            raise ValueError(f"{name} without a follower id")
        return Incoming(UserRef(CHANNEL, user), event=name, chat_id=user), dedup_digest(name, user, timestamp)
    if name == "user_send_text" or name in MEDIA_EVENTS:
        user = _sender(event, "sender")
        message = event.get("message")
        if message is not None and not isinstance(message, dict):
            raise ValueError(f"message is a {type(message).__name__}")
        message = message or {}
        msg_id = _scalar(message.get("msg_id"))
        if user is None:
            raise ValueError(f"{name} without a sender id")
        key = msg_id or dedup_digest(name, user, timestamp)  # the table holds no one's id (/xoadulieu)
        text = message.get("text") if isinstance(message.get("text"), str) else ""
        if name == "user_send_text":
            return Incoming(UserRef(CHANNEL, user), text=text, chat_id=user, message_id=msg_id), key
        # A picture, sticker, voice note...: the handlers answer that the bot reads text.
        return Incoming(UserRef(CHANNEL, user), text="", chat_id=user, message_id=msg_id,
                        media=True, extra={"media": name.removeprefix("user_send_")}), key
    return None, None  # oa_send_*, user_seen_message, user_received_message, reactions...


# --- sending helpers ----------------------------------------------------------------------------


def template_buttons(reply: Reply) -> tuple[list[dict], dict[str, str]]:
    """The reply's buttons (at most MAX_BUTTONS) as OA template buttons, and label -> payload of the
    query buttons (their payload text is the label, which Zalo echoes back as the person's message)."""
    buttons: list[dict] = []
    labels: dict[str, str] = {}
    for b in reply.flat_buttons:
        title = b.label.strip()[:MAX_TITLE] or "…"
        if b.url:
            buttons.append({"title": title, "type": "oa.open.url", "payload": {"url": b.url}})
        elif b.payload:
            buttons.append({"title": title, "type": "oa.query.show", "payload": title[:MAX_QUERY_PAYLOAD]})
            labels[fold_label(title)] = b.payload
        else:
            log.error("button %r dropped: it has neither payload nor url", b.label)
    return buttons, labels


def seconds_until_morning(now: datetime) -> float:
    """Seconds from `now` to the next 07:00 in Việt Nam (Zalo's night-time rule ends then)."""
    local = now.astimezone(NIGHT_ZONE)
    morning = datetime.combine(local.date(), MORNING, NIGHT_ZONE)
    if morning <= local:
        morning += timedelta(days=1)
    return max(1.0, (morning - local).total_seconds())


def map_error(code: int, message: str, now: datetime) -> Exception:
    """An OA API error (HTTP 200, `error` < 0) as the SendError the callers of send() understand."""
    reason = f"zalo error {code}: {message}"[:300]
    if code in BLOCKED:
        return Blocked(f"{reason} ({BLOCKED[code]})")
    if code in OUTSIDE_WINDOW:
        return Skipped(f"{reason} ({OUTSIDE_WINDOW[code]})")
    if code == RATE_LIMITED:
        return RateLimited(reason, RATE_LIMIT_PAUSE)
    if code == NIGHT:
        return Deferred(reason, seconds_until_morning(now))
    return Permanent(reason)


class _TokenRejected(Exception):
    """The API refused the access token (-216 / -220 / HTTP 401)."""


class ZaloOAChannel:
    """The adapter: `routes()`, `start()`, `stop()`, `send()`, `close()` (see bot.channels.base)."""

    name = CHANNEL

    def __init__(self, settings: Settings, store: Store, inbox: Inbox):
        assert settings.zalo_oa_app_id and settings.zalo_oa_secret_key
        self.settings = settings
        self.store = store
        self.inbox = inbox
        self.secret_key = settings.zalo_oa_secret_key
        self.api_url = settings.zalo_oa_api_url.rstrip("/")
        self._http: aiohttp.ClientSession | None = None
        self.tokens = ZaloTokens(settings, store, self.session)
        self.menus = MenuMemory(store, CHANNEL)
        self._labels: OrderedDict[str, dict[str, str]] = OrderedDict()  # chat -> folded label -> payload
        # Webhooks are accepted from the moment the HTTP server listens (it starts before the channels);
        # the token pair is loaded by start() or by the first send, whichever comes first.
        self._accepting = True
        self._tasks: list[asyncio.Task] = []
        self._status = "on"

    # --- status --------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """"on", or "paused: <why>" while the token pair is dead (shown in /healthz)."""
        return self._status

    @property
    def paused(self) -> bool:
        """Whether sending is paused (no usable token pair)."""
        return self._status != "on"

    def alerts(self) -> list[str]:
        """Lines for staff (/thongke) while the channel is paused."""
        if not self.paused:
            return []
        return [f"Zalo OA tạm dừng: token hết hiệu lực ({self.tokens.dead_reason or 'không rõ lý do'}). "
                "Cần cấp quyền lại cho ứng dụng và đặt cặp token mới (xem docs/zalo_oa.md)."]

    def _check_dead(self) -> None:
        if self.tokens.dead:
            self._status = f"paused: refresh token rejected ({self.tokens.dead_reason})"
        else:
            self._status = "on"

    # --- lifecycle -----------------------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session, opened on first use."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS), timeout=REQUEST_TIMEOUT,
                headers={"User-Agent": "chonnghe-zalo-oa"})
        return self._http

    def routes(self) -> list[web.RouteDef]:
        """The webhook route (the OA receives only by webhook)."""
        return [web.post(WEBHOOK_PATH, self._webhook)]

    async def start(self) -> None:
        """Load the stored token pair (a failed read is retried on the first send), keep it fresh."""
        try:
            await self.tokens.load()
        except Exception:
            log.exception("zalo_oa: reading the token pair failed; will retry on the first send")
        self._check_dead()
        self._tasks = [asyncio.create_task(self._keep_fresh(), name="zalo-oa-tokens")]
        log.info("zalo_oa: webhook at %s (status: %s)", WEBHOOK_PATH, self.status)

    async def stop(self) -> None:
        """Stop taking events and stop keeping the token pair fresh."""
        self._accepting = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def close(self) -> None:
        """Close the HTTP session (after everyone is done sending)."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _keep_fresh(self) -> None:
        """Refresh the pair before it expires even when nobody writes (so the 3-month refresh token lives)."""
        while True:
            due = self.tokens.due_in()
            if due is not None and due <= 0:
                assert self.tokens.pair is not None
                try:
                    await self.tokens.refresh(self.tokens.pair.access_token)
                except asyncio.CancelledError:
                    raise
                except TokenDead:
                    pass  # logged by the token keeper; the status below says paused
                except Exception as exc:  # TokenUnavailable, a database hiccup: try again soon
                    log.warning("zalo_oa: background token refresh failed: %s", exc)
                    await asyncio.sleep(60)
                    continue
                due = self.tokens.due_in()
            self._check_dead()
            await asyncio.sleep(min(300.0, max(5.0, due)) if due is not None else 300.0)

    # --- webhook -------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header or not _MAC.fullmatch(header.strip()):
            # Refused before the body is read: a forged header must not buy a connection held open while
            # a body trickles in.
            log.warning(
                "zalo_oa webhook: request without a well-formed signature from %s refused", request.remote
            )
            return web.Response(status=401, text="unauthorized")
        body = await request.read()
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="malformed JSON")
        if not isinstance(event, dict):
            return web.Response(status=400, text="not an event")
        if not verify(header, body, event, self.secret_key):
            log.warning("zalo_oa webhook: wrong signature from %s refused", request.remote)
            return web.Response(status=401, text="unauthorized")
        at = signed_at(event)
        if at is None or abs(self.store.clock.now() - at) > REPLAY_WINDOW:
            log.warning(
                "zalo_oa webhook: event signed at %s, outside the replay window of %s, from %s refused",
                at.isoformat() if at else "an unreadable time",
                REPLAY_WINDOW,
                request.remote,
            )
            return web.Response(status=401, text="stale")
        if not self._accepting:
            return web.Response(status=503, text="not ready")
        incoming, key = parse_event(event)  # a malformed event is logged there and acknowledged here
        if incoming is None or key is None:
            return web.Response(status=200)
        if event.get("app_id") is not None and _scalar(event.get("app_id")) != self.settings.zalo_oa_app_id:
            log.info("zalo_oa webhook: event for app %s (configured: %s)", event.get("app_id"),
                     self.settings.zalo_oa_app_id)
        try:
            incoming = await self.resolve(incoming)
        except Exception:
            log.exception("zalo_oa: mapping a button failed; handling the text as typed")

        async def once() -> bool:
            fresh = await self.store.dedup.first_time(CHANNEL, key)
            if not fresh:
                log.info("zalo_oa: event %s delivered again, skipped", key)
            return fresh

        try:
            self.inbox.submit(incoming, once=once)
        except RuntimeError:  # shutting down: Zalo delivers it again later
            return web.Response(status=503, text="shutting down")
        except Exception:  # acknowledged all the same: a 500 would have Zalo redeliver it
            log.exception("zalo_oa: an event could not be handed over")
        return web.Response(status=200)

    async def resolve(self, incoming: Incoming) -> Incoming:
        """A typed text that is a button's label (an oa.query.show echo) or an option number becomes the
        button's press (payload set, text empty); anything else is left as typed."""
        if incoming.event != "message" or not incoming.text or incoming.payload is not None:
            return incoming
        chat = incoming.chat_id or incoming.user.user_id
        folded = fold_label(incoming.text)
        if len(folded) <= MAX_TITLE:
            labels = await self._labels_of(chat)
            payload = labels.get(folded)
            if payload is not None:
                return dataclasses.replace(incoming, text="", payload=payload,
                                           extra={**incoming.extra, "button": incoming.text[:MAX_TITLE]})
        return await self.menus.resolve(incoming)

    async def _labels_of(self, chat: str) -> dict[str, str]:
        cached = self._labels.get(chat)
        if cached is not None:
            self._labels.move_to_end(chat)
            return cached
        raw = await self.store.kv.get(chat_key(CHANNEL, chat, "buttons"))
        labels: dict[str, str] = {}
        if raw:
            try:
                data = json.loads(raw)
                at = datetime.fromisoformat(data["at"])
                if self.store.clock.now() - at <= LABELS_TTL:
                    labels = {str(k): str(v) for k, v in data["labels"].items()}
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("zalo_oa: unreadable button labels for a chat, ignored")
        self._cache_labels(chat, labels)
        return labels

    def _cache_labels(self, chat: str, labels: dict[str, str]) -> None:
        self._labels[chat] = labels
        self._labels.move_to_end(chat)
        while len(self._labels) > LABELS_CACHE:
            self._labels.popitem(last=False)

    async def _remember_labels(self, chat: str, new: dict[str, str]) -> None:
        """Merge the labels of buttons about to be shown into the chat's (newest wins), before sending."""
        current = await self._labels_of(chat)
        if all(current.get(k) == v for k, v in new.items()):
            return
        merged = {k: v for k, v in current.items() if k not in new}
        merged.update(new)
        while len(merged) > LABELS_PER_CHAT:
            merged.pop(next(iter(merged)))
        value = json.dumps({"labels": merged, "at": self.store.clock.now().isoformat()}, ensure_ascii=False)
        await self.store.kv.set(chat_key(CHANNEL, chat, "buttons"), value)
        self._cache_labels(chat, merged)

    # --- sending -------------------------------------------------------------------------------

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send one reply; returns Zalo's message id of the last piece. Raises SendError subclasses, but
        only while nothing went out: once the first piece is delivered, a failing later piece is retried
        here and never resends the earlier ones (bot.channels.base.send_pieces)."""
        if self.paused:
            with contextlib.suppress(TokenDead, TokenUnavailable, Exception):
                await self.tokens.access_token()  # looks at the database now and then
            self._check_dead()
            if self.paused:
                raise Deferred(f"zalo_oa paused: {self.tokens.dead_reason}", PAUSED_RETRY)
        buttons = reply.flat_buttons
        attachment = None
        if buttons and len(buttons) <= MAX_BUTTONS:
            items, labels = template_buttons(reply)
            if labels:
                await self._remember_labels(chat_id, labels)
            await self.menus.remember(chat_id, Menu())
            text = reply.text
            attachment = {"type": "template", "payload": {"buttons": items}} if items else None
        else:
            rendered = render(reply)  # no buttons (clears the menu) or more than Zalo shows: a numbered list
            await self.menus.remember(chat_id, rendered.menu)
            text = rendered.text
        pieces = split_text(text if text.strip() else "…", MAX_TEXT, utf16_len)  # counted strictly
        messages: list[dict[str, Any]] = [{"text": piece} for piece in pieces]
        if attachment is not None:
            messages[-1]["attachment"] = attachment

        async def send_one(message: dict[str, Any]) -> str | None:
            return await self.call_cs({"recipient": {"user_id": chat_id}, "message": message})

        return await send_pieces(messages, send_one, channel=CHANNEL, chat_id=chat_id,
                                 size=lambda m: len(m["text"]))

    async def call_cs(self, body: dict) -> str | None:
        """POST one consultation (cs) message; refreshes the token and retries once when it is refused."""
        token = await self._token()
        try:
            return await self._post(body, token)
        except _TokenRejected:
            log.info("zalo_oa: access token refused; refreshing")
        try:
            token = await self.tokens.refresh(token)
        except TokenDead as exc:
            self._check_dead()
            raise Deferred(f"zalo_oa paused: {exc}", PAUSED_RETRY) from exc
        except TokenUnavailable as exc:
            raise Transient(str(exc)) from exc
        try:
            return await self._post(body, token)
        except _TokenRejected as exc:
            raise Transient("zalo_oa: the access token was refused right after a refresh") from exc

    async def _token(self) -> str:
        try:
            token = await self.tokens.access_token()
        except TokenDead as exc:
            self._check_dead()
            raise Deferred(f"zalo_oa paused: {exc}", PAUSED_RETRY) from exc
        except TokenUnavailable as exc:
            raise Transient(str(exc)) from exc
        self._check_dead()
        return token

    async def _post(self, body: dict, token: str) -> str | None:
        try:
            async with self.session().post(self.api_url + SEND_PATH, json=body,
                                           headers={"access_token": token}) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Transient(f"zalo_oa: network error: {exc!r}") from exc
        if status == 401:
            raise _TokenRejected()
        if status == 429:
            raise RateLimited("zalo_oa: HTTP 429", RATE_LIMIT_PAUSE)
        if status >= 500:
            raise Transient(f"zalo_oa: HTTP {status}")
        try:
            data = json.loads(raw)
        except ValueError:
            if status >= 400:
                raise Permanent(f"zalo_oa: HTTP {status}") from None
            raise Transient(f"zalo_oa: HTTP {status} without JSON") from None
        if not isinstance(data, dict):
            raise Transient(f"zalo_oa: unexpected answer (HTTP {status})")
        code = data.get("error", 0)
        if not isinstance(code, int):
            code = int(code) if isinstance(code, str) and re.fullmatch(r"-?\d+", code) else -1
        if code in TOKEN_ERRORS:
            raise _TokenRejected()
        if code != 0:
            raise map_error(code, str(data.get("message", "")), self.store.clock.now())
        if status >= 400:
            raise Permanent(f"zalo_oa: HTTP {status}")
        result = data.get("data") if isinstance(data.get("data"), dict) else {}
        return _scalar(result.get("message_id"))
