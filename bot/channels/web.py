"""The web channel: the chat page at `/`, the embeddable widget (`/widget.js`), their static files and one
WebSocket per open page, on `chonnghe serve`'s aiohttp server. Works with nothing configured.

Visitors. A visitor is a random id in a signed cookie (`chonnghe_visitor`, HMAC-SHA256 with a secret made
once and kept in the database's kv table, like the Telegram webhook secret). The WebSocket's first frame
also carries the signed token the page keeps in localStorage, for browsers that refuse the cookie inside
an embedding site's iframe (third-party cookies blocked); a token is worthless without the secret.

The mailbox. Every message of a visitor's chat, the bot's and what the visitor typed, is stored
(bot.storage.mailbox, table web_messages) before it is pushed to the visitor's open pages. Its id is a
sequence number: a page says the last id it has (`hello.after`) when it (re)connects and receives
exactly what came after, once (pushes that race the catch-up are held back until it is sent). So a
reload, a lost connection or a restart of the service loses nothing, and a broadcast to a visitor whose
page is closed waits in the mailbox, counted as unread (ids after the last one the page acknowledged
while visible) until the next visit. "Cuộc trò chuyện mới" empties the mailbox and starts over (/start);
/xoadulieu deletes it with the rest of the person's data (store.privacy.delete). Messages older than
CHONNGHE_WEB_KEEP_DAYS (90 by default) are deleted at start-up and every hour; a visitor whose mailbox
was emptied so is greeted as on a first visit.

The protocol (JSON text frames).
  page -> server: {"t": "hello", "after": id, "token": str|null}   first frame, within HELLO_TIMEOUT
                  {"t": "msg", "text": str, "cid": str}              a typed message (cid: the page's own id)
                  {"t": "press", "id": message id, "i": button index} a reply button pressed
                  {"t": "ack", "id": id}                              shown to the person (read up to id)
                  {"t": "restart"}                                    "Cuộc trò chuyện mới"
  server -> page: {"t": "welcome", "token", "unread", "read"}, then {"t": "m", "id", "from": "bot"|"user",
                  "text", "buttons": [[{"label", "url"} | {"label", "i"}]], "at", "cid"?}, {"t": "synced"},
                  {"t": "typing", "on": bool} (on: an answer is taking a moment; off: the turn is over),
                  {"t": "refused", "cid", "text", "retry"} (too fast, too long),
                  {"t": "cleared"} (the mailbox was emptied).
The widget's launcher learns a returning visitor's unread count from BADGE_PATH, a hidden page whose
script reads the token from this origin's storage and asks UNREAD_PATH (GET, the token in TOKEN_HEADER).
A button's payload never leaves the server: a press names the stored message and the button's place, so a
visitor can only press what the bot offered them.

Safety. The WebSocket refuses an Origin other than the chat's own (the page is embedded as an iframe of
this origin, so its socket is same-origin too): 403. Open sockets per address are capped
(CHONNGHE_WEB_MAX_CONNECTIONS; 429). Frames over MAX_FRAME close with 1009, binary frames with 1003,
frames that are not our JSON with 1007 / 1008; a text over MAX_TEXT characters is refused with a polite
reply. Sending too fast (CHONNGHE_WEB_RATE / _BURST per visitor, CHONNGHE_WEB_ADDRESS_RATE / _BURST per
address) is refused with a polite reply and the text is given back to the text box. Every page carries a
strict Content-Security-Policy (scripts and styles from our own files only, nothing from elsewhere,
`frame-ancestors 'self'` + CHONNGHE_WEB_ORIGINS). Text is rendered as text by the page (chat.js).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import WSCloseCode, WSMsgType, web

from bot.channels.base import ChannelDeps, Off
from bot.ports import Transient
from bot.storage.mailbox import HISTORY, Letter, Mailbox
from bot.types import Incoming, Reply, UserRef

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.ports import Inbox
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

CHANNEL = "web"
WS_PATH = "/web/ws"
STATIC_PATH = "/web/static"
WIDGET_PATH = "/widget.js"
BADGE_PATH = "/web/badge"  # a blank page the widget loads hidden to learn a returning visitor's unread count
UNREAD_PATH = "/web/unread"  # {"unread": n} for the visitor of the cookie or the X-Chonnghe-Token header
TOKEN_HEADER = "X-Chonnghe-Token"
UNREAD_MAX = 99  # an unread count says at most this much
COOKIE = "chonnghe_visitor"
COOKIE_MAX_AGE = 400 * 86400  # the longest a browser keeps a cookie (Chrome caps at 400 days)
SECRET_KEY = "web_cookie_secret"  # kv key of the HMAC secret
MAX_TEXT = 2000  # characters a visitor may send in one message
MAX_FRAME = 16 * 1024  # bytes in one WebSocket frame; more closes the socket with 1009
HELLO_TIMEOUT = 10.0  # seconds a new socket has to say hello
HEARTBEAT = 30.0  # seconds between pings (a dead connection is noticed within about twice that)
PRUNE_EVERY = 3600.0  # seconds between two prunings of old mailbox messages
TYPING_AFTER = 0.25  # seconds an answer may take before the pages show "typing"
LABEL_MAX = 120  # characters of a pressed button's label echoed into the chat
SAID_HOLD = 0.05  # seconds what a visitor said may wait to be stored with the answer (one commit for both)
CLIENT_ID_MAX = 40
CLOSE_UNSUPPORTED = WSCloseCode.UNSUPPORTED_DATA  # 1003: a binary frame
CLOSE_INVALID = WSCloseCode.INVALID_TEXT  # 1007: not JSON
CLOSE_POLICY = WSCloseCode.POLICY_VIOLATION  # 1008: JSON that is not our protocol
ASSETS = Path(__file__).resolve().parent / "web_assets"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".svg": "image/svg+xml"}
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
TYPING_ON = ({"t": "typing", "on": True}, '{"t":"typing","on":true}')
TYPING_OFF = ({"t": "typing", "on": False}, '{"t":"typing","on":false}')

# What the person reads (Vietnamese, polite and short).
TOO_FAST = "Bạn gửi hơi nhanh. Bạn vui lòng chờ một chút rồi gửi lại nhé."
TOO_LONG = "Tin nhắn dài quá ({n} ký tự). Bạn vui lòng rút gọn dưới {limit} ký tự rồi gửi lại nhé."
STALE = "Nút này không còn dùng được nữa. Bạn vui lòng chọn lại trong tin nhắn mới nhất nhé."


async def create(deps: ChannelDeps) -> WebChannel | Off:
    """Called by bot.app: the web chat is on unless CHONNGHE_WEB_ENABLED=false (it needs no account)."""
    if not deps.settings.web_enabled:
        return Off("CHONNGHE_WEB_ENABLED is false")
    secret = await deps.store.kv.setdefault(SECRET_KEY, secrets.token_urlsafe(32))
    return WebChannel(deps.settings, deps.store, deps.inbox, secret=secret)


# --- visitors --------------------------------------------------------------------------------------


class VisitorTokens:
    """Visitor ids and their signed tokens: "<id>.<HMAC-SHA256(secret, id), base64url, 32 chars>"."""

    def __init__(self, secret: str):
        self._key = secret.encode("utf-8")

    def _sign(self, visitor: str) -> str:
        mac = hmac.new(self._key, b"web-visitor:" + visitor.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")[:32]

    def issue(self) -> tuple[str, str]:
        """A new (visitor id, token)."""
        visitor = secrets.token_urlsafe(16)
        return visitor, f"{visitor}.{self._sign(visitor)}"

    def token_for(self, visitor: str) -> str:
        """The signed token of an existing visitor id."""
        return f"{visitor}.{self._sign(visitor)}"

    def verify(self, token: object) -> str | None:
        """The visitor id of a genuine token, else None."""
        if not isinstance(token, str) or len(token) > 100 or token.count(".") != 1:
            return None
        visitor, mac = token.split(".")
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,40}", visitor):
            return None
        return visitor if hmac.compare_digest(mac, self._sign(visitor)) else None


class Bucket:
    """A token bucket: `rate` per second, at most `burst` at once."""

    __slots__ = ("burst", "level", "rate", "stamp")

    def __init__(self, rate: float, burst: int, now: float):
        self.rate, self.burst, self.level, self.stamp = rate, float(burst), float(burst), now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is available (nothing taken)."""
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1.0:
            self.level -= 1.0
            return 0.0
        return (1.0 - self.level) / self.rate


class Buckets:
    """One bucket per key (visitor or address), forgetting the least recently used past `most`."""

    def __init__(self, rate: float, burst: int, time_fn: Callable[[], float], most: int = 100_000):
        self.rate, self.burst, self.time, self.most = rate, burst, time_fn, most
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Take a token from `key`'s bucket: 0 when taken, else the seconds until one is available."""
        now = self.time()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.rate, self.burst, now)
            if len(self._buckets) > self.most:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def give_back(self, key: str) -> None:
        """Return a token taken for a message refused by another limit."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.level = min(bucket.burst, bucket.level + 1.0)


# --- rendering -------------------------------------------------------------------------------------


def body_parts(reply: Reply) -> dict[str, Any]:
    """A reply as stored in the mailbox, before it is encoded: its text and its buttons (payloads
    included)."""
    rows = []
    for row in reply.buttons:
        buttons = []
        for b in row:
            if b.url and re.match(r"https?://", b.url):
                buttons.append({"label": b.label, "url": b.url})
            elif b.payload:
                buttons.append({"label": b.label, "payload": b.payload})
        if buttons:
            rows.append(buttons)
    return {"text": reply.text, "buttons": rows}


def body_of(reply: Reply) -> str:
    """A reply as stored in the mailbox (JSON): its text and its buttons (payloads included)."""
    return json.dumps(body_parts(reply), ensure_ascii=False)


def buttons_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored buttons in order (a press names one by its place in this list)."""
    return [b for row in body.get("buttons") or () for b in row if isinstance(b, dict)]


def frame_of(letter: Letter, cid: str | None = None) -> dict[str, Any]:
    """The frame a page gets for a stored message: payloads replaced by the button's place."""
    return frame_from(letter.id, letter.sender, json.loads(letter.body), letter.at, cid)


def frame_from(ident: int, sender: str, body: dict[str, Any], at: datetime, cid: str | None = None
               ) -> dict[str, Any]:
    """The frame of a message from its decoded body (what was just stored needs no decoding again)."""
    rows, index = [], 0
    for row in body.get("buttons") or ():
        shown = []
        for b in row:
            if "url" in b:
                shown.append({"label": b["label"], "url": b["url"]})
            else:
                shown.append({"label": b["label"], "i": index})
            index += 1
        rows.append(shown)
    frame: dict[str, Any] = {"t": "m", "id": ident, "from": sender, "text": body.get("text", ""),
                             "buttons": rows, "at": at.isoformat()}
    if cid:
        frame["cid"] = cid
    return frame


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    port = parts.port or default
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + ("" if port == default else f":{port}")


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


# --- the adapter -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Conn:
    """One open page (a visitor may have several tabs open)."""

    ws: web.WebSocketResponse
    visitor: str
    address: str
    syncing: bool = True  # catching up: live pushes of messages wait in `held`
    held: list[dict[str, Any]] = field(default_factory=list)

    async def push(self, frame: dict[str, Any], encoded: str | None = None) -> None:
        """Send a frame to this page (held while it is catching up); a closed socket is skipped.
        `encoded`: the frame as JSON already (one encoding for all of a visitor's pages)."""
        if self.syncing and frame.get("t") == "m":
            self.held.append(frame)
            return
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(encoded or json.dumps(frame, ensure_ascii=False))


class WebChannel:
    """The adapter: `routes()`, `start()`, `stop()`, `send()`, `close()` (see bot.ports.ChannelAdapter)."""

    name = CHANNEL

    def __init__(self, settings: Settings, store: Store, inbox: Inbox, *, secret: str,
                 time_fn: Callable[[], float] | None = None):
        self.settings = settings
        self.store = store
        self.inbox = inbox
        self.mailbox = Mailbox(store)
        self.tokens = VisitorTokens(secret)
        self._time = time_fn or (lambda: asyncio.get_running_loop().time())
        self.per_visitor = Buckets(settings.web_rate, settings.web_burst, self._now)
        self.per_address = Buckets(settings.web_address_rate, settings.web_address_burst, self._now)
        self.conns: dict[str, set[Conn]] = {}  # visitor -> open pages
        self.per_ip: dict[str, int] = {}  # address -> open sockets
        self.read: dict[str, int] = {}  # visitor -> highest id acknowledged while shown, not yet stored
        self._welcoming: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._accepting = False
        self._pruner: asyncio.Task | None = None
        self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(ASSETS / "templates"),
                                       autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self._static = self._load_static()
        self._version = hashlib.sha256(
            b"".join(body for body, _, _ in self._static.values())).hexdigest()[:10]
        self._frame_ancestors = " ".join(["'self'", *settings.web_origins])
        self._badge_html: str | None = None

    def _now(self) -> float:
        return self._time()

    @property
    def status(self) -> str:
        """Always "on": the page needs no platform."""
        return "on"

    def alerts(self) -> list[str]:
        """Never any: the page depends on no platform that could fail (see bot.ports)."""
        return []

    @property
    def connections(self) -> int:
        """Open sockets (for tests and the benchmark)."""
        return sum(self.per_ip.values())

    # --- lifecycle -----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The HTTP routes: the page, the embeddable widget, static files and the WebSocket."""
        return [web.get("/", self._page), web.get(WIDGET_PATH, self._widget),
                web.get(STATIC_PATH + "/{name}", self._static_file), web.get(WS_PATH, self._socket),
                web.get(BADGE_PATH, self._badge), web.get(UNREAD_PATH, self._unread_count)]

    async def start(self) -> None:
        """Start accepting sockets, and pruning old mailbox messages (now, then every PRUNE_EVERY)."""
        self._accepting = True
        self._pruner = asyncio.create_task(self._prune_often(), name="web-mailbox-pruner")

    async def prune(self) -> int:
        """Delete mailbox messages older than CHONNGHE_WEB_KEEP_DAYS; returns how many went."""
        before = self.store.clock.now() - timedelta(days=self.settings.web_keep_days)
        gone = await self.mailbox.prune(before)
        if gone:
            log.info("web: %d mailbox message(s) older than %d days deleted", gone,
                     self.settings.web_keep_days)
        return gone

    async def _prune_often(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception as exc:  # the database may be busy or away: next time
                log.warning("web: old mailbox messages not pruned: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(PRUNE_EVERY)

    async def stop(self) -> None:
        """Close every page's socket (1001 "going away": the pages reconnect, to us after a restart, and
        get what they missed from the mailbox) and keep what was read."""
        self._accepting = False
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None
        conns = [c for group in self.conns.values() for c in group]
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        await self._save_read()

    async def close(self) -> None:
        """Release the mailbox and keep what visitors read."""
        await self.mailbox.flush()
        await self._save_read()

    async def _save_read(self) -> None:
        marks, self.read = self.read, {}
        for visitor, ident in marks.items():
            try:
                await self.store.kv.set(self._read_key(visitor), str(ident))
            except Exception as exc:
                log.warning("web: could not keep what visitor %s read: %s", visitor[:6], exc)

    async def _read_mark(self, visitor: str) -> int:
        """The highest id the visitor has seen: acknowledged in this process, else as last kept."""
        mark = self.read.get(visitor)
        if mark is None:
            stored = await self.store.kv.get(self._read_key(visitor))
            mark = int(stored) if stored and stored.isdigit() else 0
        return mark

    @staticmethod
    def _read_key(visitor: str) -> str:
        from bot.storage.repo import chat_key

        return chat_key(CHANNEL, visitor, "read")

    # --- sending -------------------------------------------------------------------------------

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Put the reply in the visitor's mailbox and push it to their open pages; returns its id."""
        parts = body_parts(reply)
        try:
            ident = await self.mailbox.put(chat_id, "bot", json.dumps(parts, ensure_ascii=False))
        except Exception as exc:
            raise Transient(f"web mailbox: {type(exc).__name__}: {exc}") from None
        await self._push_letter(chat_id, ident, "bot", parts)
        return str(ident)

    async def _push_letter(self, visitor: str, ident: int, sender: str, body: dict[str, Any],
                           cid: str | None = None) -> None:
        group = self.conns.get(visitor)
        if group:
            frame = frame_from(ident, sender, body, self.store.clock.now(), cid)
            encoded = json.dumps(frame, ensure_ascii=False)
            for conn in list(group):
                await conn.push(frame, encoded)

    async def _push(self, visitor: str, frame: dict[str, Any], encoded: str | None = None) -> None:
        for conn in list(self.conns.get(visitor, ())):
            await conn.push(frame, encoded)

    # --- pages ---------------------------------------------------------------------------------

    def _load_static(self) -> dict[str, tuple[bytes, str, str]]:
        files = {}
        for path in sorted((ASSETS / "static").iterdir()):
            kind = STATIC_TYPES.get(path.suffix)
            if kind and path.is_file():
                body = path.read_bytes()
                files[path.name] = (body, kind, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
        return files

    @staticmethod
    def _secure_headers(response: web.StreamResponse) -> None:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"

    def _csp(self) -> str:
        return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
                f"form-action 'none'; frame-ancestors {self._frame_ancestors}")

    def _cookie_secure(self, request: web.Request) -> bool:
        public = self.settings.public_url or ""
        return request.secure or public.startswith("https://") or _loopback(request.host)

    def _set_cookie(self, request: web.Request, response: web.StreamResponse, token: str) -> None:
        if self._cookie_secure(request):
            # SameSite=None so the chat also keeps its visitor inside a school site's iframe.
            response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE, path="/", httponly=True, secure=True,
                                samesite="None")
        else:
            response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                                samesite="Lax")

    async def _page(self, request: web.Request) -> web.Response:
        """The chat page (full window; `?embed=1` inside the widget's iframe)."""
        embed = request.query.get("embed") == "1"
        title = (request.query.get("title") or "").strip()[:60] if embed else ""
        colour = request.query.get("colour", "")
        context = {
            "title": title or "Tư vấn chọn nghề",
            "embed": embed,
            "accent": colour if embed and COLOUR.fullmatch(colour) else "",
            "static": lambda name: f"{STATIC_PATH}/{name}?v={self._version}",
            "max_text": MAX_TEXT,
        }
        html = self._env.get_template("chat.html").render(**context)
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        response.headers["Content-Security-Policy"] = self._csp()
        response.headers["Cache-Control"] = "no-store"
        self._secure_headers(response)
        if self.tokens.verify(request.cookies.get(COOKIE)) is None:
            _visitor, token = self.tokens.issue()
            self._set_cookie(request, response, token)
        return response

    async def _badge(self, _request: web.Request) -> web.Response:
        """The widget's hidden helper page: its script (badge.js) reads the visitor's token from this
        origin's storage, which the host page cannot, asks UNREAD_PATH and tells the launcher the count.
        It creates no visitor and opens no socket: a host page's visitor who never chatted costs a
        cached page and nothing else."""
        if self._badge_html is None:  # the same for everyone: rendered once
            self._badge_html = self._env.get_template("badge.html").render(
                static=lambda name: f"{STATIC_PATH}/{name}?v={self._version}")
        response = web.Response(text=self._badge_html, content_type="text/html", charset="utf-8")
        response.headers["Content-Security-Policy"] = self._csp()
        response.headers["Cache-Control"] = "public, max-age=3600"
        self._secure_headers(response)
        return response

    async def _unread_count(self, request: web.Request) -> web.Response:
        """How many of the bot's messages the visitor has not seen (0 for anyone unknown)."""
        visitor = (self.tokens.verify(request.cookies.get(COOKIE))
                   or self.tokens.verify(request.headers.get(TOKEN_HEADER)))
        unread = 0
        if visitor is not None:
            unread = min(await self.mailbox.count_after(visitor, await self._read_mark(visitor)), UNREAD_MAX)
        response = web.json_response({"unread": unread}, headers={"Cache-Control": "no-store"})
        self._secure_headers(response)
        return response

    async def _widget(self, _request: web.Request) -> web.Response:
        body, kind, etag = self._static["widget.js"]
        response = web.Response(body=body, headers={"Content-Type": kind, "ETag": etag,
                                                    "Cache-Control": "public, max-age=3600",
                                                    "Cross-Origin-Resource-Policy": "cross-origin"})
        self._secure_headers(response)
        return response

    async def _static_file(self, request: web.Request) -> web.Response:
        found = self._static.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, kind, etag = found
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        cache = ("public, max-age=31536000, immutable" if request.query.get("v") == self._version
                 else "no-cache")
        response = web.Response(body=body,
                                headers={"Content-Type": kind, "ETag": etag, "Cache-Control": cache})
        self._secure_headers(response)
        return response

    # --- the socket ----------------------------------------------------------------------------

    def _address(self, request: web.Request) -> str:
        if self.settings.web_trust_forwarded:
            forwarded = request.headers.get("X-Forwarded-For", "")
            last = forwarded.split(",")[-1].strip() if forwarded else ""
            if last:
                return last[:64]
        return request.remote or "?"

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if not origin:
            return False
        given = _origin(origin)
        if given is None:
            return False
        own = {_origin(f"{request.scheme}://{request.host}"), _origin(f"http://{request.host}"),
               _origin(f"https://{request.host}")}
        if self.settings.public_url:
            own.add(_origin(self.settings.public_url))
        return given in own

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if not self._accepting:
            raise web.HTTPServiceUnavailable(text="starting or stopping")
        if not self._origin_allowed(request):
            log.info("web: socket from origin %r refused", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="origin not allowed")
        address = self._address(request)
        if self.per_ip.get(address, 0) >= self.settings.web_max_connections:
            log.warning("web: too many open chats from %s; refused", address)
            raise web.HTTPTooManyRequests(text="too many connections from this address")
        # No permessage-deflate (browsers offer it): the frames are small, and each compressed connection
        # keeps a zlib state (measured: 154 KB per idle connection with it, 42 KB without) and pays CPU for
        # every frame.
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_FRAME, autoping=True, compress=False)
        self.per_ip[address] = self.per_ip.get(address, 0) + 1
        conn: Conn | None = None
        try:
            await ws.prepare(request)
            conn = await self._hello(request, ws, address)
            if conn is not None:
                await self._serve(conn)
        finally:
            self.per_ip[address] -= 1
            if not self.per_ip[address]:
                del self.per_ip[address]
            if conn is not None:
                group = self.conns.get(conn.visitor)
                if group is not None:
                    group.discard(conn)
                    if not group:
                        del self.conns[conn.visitor]
                        # Its own task: aiohttp cancels this handler when the peer goes away.
                        keep = asyncio.ensure_future(self._keep_read(conn.visitor))
                        self._tasks.add(keep)
                        keep.add_done_callback(self._tasks.discard)
            if not ws.closed:
                await ws.close()
        return ws

    async def _keep_read(self, visitor: str) -> None:
        ident = self.read.pop(visitor, None)
        log.debug("web: visitor %s left, read up to %s", visitor[:6], ident)
        if ident is not None:
            try:
                await self.store.kv.set(self._read_key(visitor), str(ident))
            except Exception as exc:
                log.warning("web: could not keep what visitor %s read: %s", visitor[:6], exc)

    async def _receive(self, ws: web.WebSocketResponse, wait: float | None = None) -> dict[str, Any] | None:
        """The next frame as a JSON object; None when the socket closed (or was closed for a bad frame)."""
        try:
            msg = await ws.receive(timeout=wait)
        except TimeoutError:
            await ws.close(code=CLOSE_POLICY, message=b"hello expected")
            return None
        if msg.type == WSMsgType.TEXT:
            try:
                data = json.loads(msg.data)
            except ValueError:
                await ws.close(code=CLOSE_INVALID, message=b"frames must be JSON")
                return None
            if not isinstance(data, dict) or not isinstance(data.get("t"), str):
                await ws.close(code=CLOSE_POLICY, message=b"unknown frame")
                return None
            return data
        if msg.type == WSMsgType.BINARY:
            await ws.close(code=CLOSE_UNSUPPORTED, message=b"text frames only")
            return None
        if msg.type == WSMsgType.ERROR:  # e.g. a frame over MAX_FRAME: aiohttp closes with 1009
            log.info("web: socket closed on error: %s", ws.exception())
        return None

    async def _hello(self, request: web.Request, ws: web.WebSocketResponse, address: str) -> Conn | None:
        data = await self._receive(ws, HELLO_TIMEOUT)
        if data is None:
            return None
        if data["t"] != "hello":
            await ws.close(code=CLOSE_POLICY, message=b"hello expected")
            return None
        after = data.get("after")
        after = after if isinstance(after, int) and not isinstance(after, bool) and after >= 0 else 0
        visitor = self.tokens.verify(request.cookies.get(COOKIE)) or self.tokens.verify(data.get("token"))
        if visitor is None:
            visitor, _token = self.tokens.issue()
        conn = Conn(ws, visitor, address)
        self.conns.setdefault(visitor, set()).add(conn)  # live pushes from now on are held until synced
        read_mark = await self._read_mark(visitor)
        letters = await self.mailbox.since(visitor, after)
        unread = await self._unread(visitor, after, read_mark, letters)
        await ws.send_str(json.dumps({"t": "welcome", "token": self.tokens.token_for(visitor),
                                      "unread": unread, "read": read_mark}))
        for letter in letters:
            await ws.send_str(json.dumps(frame_of(letter), ensure_ascii=False))
        # Exactly once: what was pushed while catching up and is not in the catch-up goes out now.
        shown = {letter.id for letter in letters}
        conn.syncing = False
        held, conn.held = conn.held, []
        for frame in held:
            if frame["id"] > after and frame["id"] not in shown:
                await conn.push(frame)
        await ws.send_str('{"t":"synced"}')
        if not letters and not after and visitor not in self._welcoming:
            # An empty mailbox: a first visit (or one emptied). Greet as every channel greets a new chat.
            self._welcoming.add(visitor)
            self._submit(Incoming(UserRef(CHANNEL, visitor), chat_id=visitor, event="follow"),
                         done=lambda: self._welcoming.discard(visitor))
        return conn

    async def _unread(self, visitor: str, after: int, read_mark: int, letters: list[Letter]) -> int:
        """The bot's messages after `read_mark`: counted in the catch-up when it holds all of them (the
        whole mailbox, or everything after a mark at or past `after`), else in the database."""
        if not letters and not after:
            return 0
        whole = after == 0 and len(letters) < HISTORY
        if whole or (after > 0 and read_mark >= after):
            return sum(1 for letter in letters if letter.sender == "bot" and letter.id > read_mark)
        return await self.mailbox.count_after(visitor, read_mark)

    async def _serve(self, conn: Conn) -> None:
        while True:
            data = await self._receive(conn.ws)
            if data is None:
                return
            kind = data["t"]
            if kind == "msg":
                await self._on_text(conn, data)
            elif kind == "press":
                await self._on_press(conn, data)
            elif kind == "ack":
                ident = data.get("id")
                if isinstance(ident, int) and not isinstance(ident, bool) and ident > 0:
                    self.read[conn.visitor] = max(ident, self.read.get(conn.visitor, 0))
            elif kind == "restart":
                await self._on_restart(conn)
            elif kind == "hello":
                continue
            else:
                await conn.ws.close(code=CLOSE_POLICY, message=b"unknown frame")
                return

    def _slowed(self, conn: Conn) -> float:
        """0 when the visitor may send now, else the seconds to wait (nothing is counted then)."""
        wait = self.per_visitor.take(conn.visitor)
        if wait:
            return wait
        wait = self.per_address.take(conn.address)
        if wait:
            self.per_visitor.give_back(conn.visitor)
        return wait

    async def _refuse(self, conn: Conn, cid: str | None, text: str, retry: float = 0.0) -> None:
        await conn.push({"t": "refused", "cid": cid, "text": text, "retry": round(retry, 2)})

    async def _on_text(self, conn: Conn, data: dict[str, Any]) -> None:
        text, cid = data.get("text"), data.get("cid")
        cid = cid[:CLIENT_ID_MAX] if isinstance(cid, str) else None
        if not isinstance(text, str):
            await conn.ws.close(code=CLOSE_POLICY, message=b"text expected")
            return
        text = text.replace("\r\n", "\n").strip()
        if not text:
            return
        if len(text) > MAX_TEXT:
            await self._refuse(conn, cid, TOO_LONG.format(n=f"{len(text):,}".replace(",", "."),
                                                          limit=f"{MAX_TEXT:,}".replace(",", ".")))
            return
        wait = self._slowed(conn)
        if wait:
            await self._refuse(conn, cid, TOO_FAST, wait)
            return
        self._submit(Incoming(UserRef(CHANNEL, conn.visitor), text=text, chat_id=conn.visitor),
                     said=(text, cid))

    def _keep_said(self, visitor: str, text: str, cid: str | None) -> None:
        """Store what the visitor said in the message being answered, and show it on all their pages."""
        body = {"text": text, "buttons": []}
        stored = self.mailbox.put(visitor, "user", json.dumps(body, ensure_ascii=False), hold=SAID_HOLD)

        async def show() -> None:
            try:
                ident = await stored
            except Exception as exc:
                log.warning("web: a message of visitor %s was not kept in the mailbox: %s", visitor[:6], exc)
                return
            await self._push_letter(visitor, ident, "user", body, cid)

        task = asyncio.ensure_future(show())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_press(self, conn: Conn, data: dict[str, Any]) -> None:
        ident, index = data.get("id"), data.get("i")
        if (not (isinstance(ident, int) and isinstance(index, int))
                or isinstance(ident, bool) or isinstance(index, bool)):
            await conn.ws.close(code=CLOSE_POLICY, message=b"id and i expected")
            return
        wait = self._slowed(conn)
        if wait:
            await self._refuse(conn, None, TOO_FAST, wait)
            return
        letter = await self.mailbox.get(conn.visitor, ident)
        buttons = buttons_of(json.loads(letter.body)) if letter is not None and letter.sender == "bot" else []
        button = buttons[index] if 0 <= index < len(buttons) else None
        if button is None or not button.get("payload"):
            await self._refuse(conn, None, STALE)
            return
        self._submit(Incoming(UserRef(CHANNEL, conn.visitor), payload=str(button["payload"]),
                              chat_id=conn.visitor),
                     said=(str(button.get("label", ""))[:LABEL_MAX], None))

    async def _on_restart(self, conn: Conn) -> None:
        wait = self._slowed(conn)
        if wait:
            await self._refuse(conn, None, TOO_FAST, wait)
            return
        await self.mailbox.clear(conn.visitor)
        self.read.pop(conn.visitor, None)
        await self._push(conn.visitor, {"t": "cleared"})
        self._submit(Incoming(UserRef(CHANNEL, conn.visitor), text="/start", chat_id=conn.visitor))

    def _submit(self, incoming: Incoming, done: Callable[[], None] | None = None,
                said: tuple[str, str | None] | None = None) -> None:
        """Hand an update to the conversation; the visitor's pages show "typing" when it is not answered
        within TYPING_AFTER, until it is (a quick answer sends no "typing on", which would only make the
        page flicker; "typing off" always ends a turn). `said`: what the visitor's message shows in the
        chat (its text, the page's cid)."""
        visitor = incoming.user.user_id

        async def its_turn() -> bool:
            # The conversation takes one message of a chat at a time: this one is now being answered, so it
            # goes into the mailbox now (queued, not awaited: the answer does not wait for the write, and
            # comes after it), before anything the handler does (a /xoadulieu deletes it with the rest).
            if said is not None:
                self._keep_said(visitor, *said)
            return True

        try:
            task = self.inbox.submit(incoming, once=its_turn)
        except RuntimeError:  # shutting down
            return
        timer = asyncio.get_running_loop().call_later(TYPING_AFTER, self._push_soon, visitor, TYPING_ON)

        def _finished(_task: asyncio.Task) -> None:
            timer.cancel()
            if done is not None:
                done()
            self._push_soon(visitor, TYPING_OFF)

        task.add_done_callback(_finished)

    def _push_soon(self, visitor: str, frame: tuple[dict[str, Any], str]) -> None:
        """Push a fixed frame (decoded, encoded) to the visitor's open pages in a task of its own."""
        if visitor in self.conns:
            task = asyncio.ensure_future(self._push(visitor, *frame))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
