"""A fake Zalo Official Account API (OA Open API v3 + OAuth v4) for tests, served by aiohttp on loopback.

Point CHONNGHE_ZALO_OA_API_URL and CHONNGHE_ZALO_OAUTH_URL at `fake.url`.

- POST /v3.0/oa/message/cs: checks the `access_token` header (unknown -> error -216, expired -> -220, both
  with HTTP 200 as Zalo does), validates the body (recipient.user_id, message.text <= 2,000 characters,
  at most 5 template buttons of known types), records the message and answers its message_id.
  Failure injection: `fail_next(code, count)` (a Zalo error code such as -213, -230, -32, -234, or an HTTP
  status >= 400 such as 502), `user_errors[user_id] = code` (every send to that user), `http_401_next`.
- POST /v4/oa/access_token: checks the `secret_key` header and app_id; grant_type=refresh_token with the
  CURRENT refresh token issues a new pair (access token valid `token_lifetime` seconds, sent as a string
  like Zalo's "90000") and retires the old refresh token: refresh tokens are single-use, a reused or
  unknown one gets an error. `refresh_uses` counts every use of every refresh token; `refresh_delay`
  widens race windows; `revoke_refresh()` kills the current one (a dead pair).
- Token expiry: `expire_access_tokens()` makes every issued access token expired.
- Webhooks: `event_text`, `event_follow`, ... build event bodies; `post_webhook(url, event)` signs them the
  way Zalo does (mac = sha256 of app_id + raw body + timestamp + OA secret key, computed here with hashlib)
  and POSTs them; `signature=` sends a forged header, `signature=None` none.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.waiting import ChangeWaiters

APP_ID = "4321987654321"
APP_SECRET = "app-secret-XYZ"
OA_SECRET_KEY = "oa-secret-key-123"
OA_ID = "579745863508352884"
FIRST_ACCESS = "AT-0"
FIRST_REFRESH = "RT-0"
BUTTON_TYPES = {"oa.open.url", "oa.query.show", "oa.query.hide", "oa.open.sms", "oa.open.phone"}


@dataclass
class SentMessage:
    """One cs message the bot sent."""

    user_id: str
    text: str
    buttons: list[dict]
    message_id: str
    body: dict = field(default_factory=dict)

    def payload_of(self, label_part: str) -> str:
        """The oa.query.show payload (what Zalo sends back as the person's text) of the first button whose
        title contains `label_part` (case-insensitive)."""
        for b in self.buttons:
            if label_part.lower() in b.get("title", "").lower() and b.get("type") == "oa.query.show":
                return b["payload"]
        raise KeyError(f"no button {label_part!r} in {[b.get('title') for b in self.buttons]}")

    @property
    def titles(self) -> list[str]:
        return [b.get("title", "") for b in self.buttons]


def sign(app_id: str, body: bytes, timestamp: str, secret_key: str) -> str:
    """Zalo's webhook mac, computed independently of the bot's code."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret_key.encode()).hexdigest()


class FakeZaloOA(ChangeWaiters):
    """The fake server. `async with FakeZaloOA() as fake:`."""

    def __init__(self, *, app_id: str = APP_ID, app_secret: str = APP_SECRET, secret_key: str = OA_SECRET_KEY,
                 host: str = "127.0.0.1", token_lifetime: int = 90000):
        self.app_id, self.app_secret, self.secret_key = app_id, app_secret, secret_key
        self.host = host
        self.token_lifetime = token_lifetime
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        # Tokens: access token -> expiry (monotonic seconds); the one valid refresh token.
        self.access_tokens: dict[str, float] = {FIRST_ACCESS: time.monotonic() + token_lifetime}
        self.refresh_token: str | None = FIRST_REFRESH
        self.retired_refresh: set[str] = set()
        self.refresh_uses: Counter[str] = Counter()
        self.refresh_results: list[tuple[str, bool]] = []
        self.refresh_delay = 0.0
        self.token_tail = (
            ""  # appended to the tokens a refresh issues (tests of log redaction want long ones)
        )
        self._serial = itertools.count(1)
        # Sending.
        self.sent: list[SentMessage] = []
        self.by_user: dict[str, list[SentMessage]] = defaultdict(list)
        self.rejected: list[tuple[str, int]] = []  # (user id, error code) of refused sends
        self.failures: deque[int] = deque()
        self.user_errors: dict[str, int] = {}
        self.token_checks: Counter[str] = Counter()
        self._waiters: list[asyncio.Future] = []
        self._msg_serial = itertools.count(1)
        self._event_serial = itertools.count(1)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> int:
        app = web.Application()
        app.router.add_post("/v3.0/oa/message/cs", self._cs)
        app.router.add_post("/v4/oa/access_token", self._oauth)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeZaloOA:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- tokens --------------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        for token in self.access_tokens:
            self.access_tokens[token] = 0.0

    def revoke_refresh(self) -> None:
        """The current refresh token stops working (expired after 3 months, or the app was unlinked)."""
        if self.refresh_token is not None:
            self.retired_refresh.add(self.refresh_token)
        self.refresh_token = None

    @property
    def refreshes(self) -> int:
        return sum(1 for _, ok in self.refresh_results if ok)

    async def _oauth(self, request: web.Request) -> web.Response:
        form = await request.post()
        refresh = str(form.get("refresh_token") or "")
        if refresh:
            self.refresh_uses[refresh] += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if request.headers.get("secret_key") != self.app_secret or form.get("app_id") != self.app_id:
            self.refresh_results.append((refresh, False))
            return web.json_response({"error": -14002, "error_name": "Invalid app_id or secret_key",
                                      "error_description": "app_id or secret_key is invalid"})
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": -14001, "error_name": "Invalid parameter"})
        if not refresh or refresh != self.refresh_token:
            self.refresh_results.append((refresh, False))
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token",
                                      "error_description": "Refresh token is invalid or has been used"})
        n = next(self._serial)
        access, new_refresh = f"AT-{n}{self.token_tail}", f"RT-{n}{self.token_tail}"
        self.retired_refresh.add(refresh)
        self.refresh_token = new_refresh
        self.access_tokens[access] = time.monotonic() + self.token_lifetime
        self.refresh_results.append((refresh, True))
        self._changed()
        return web.json_response({"access_token": access, "refresh_token": new_refresh,
                                  "expires_in": str(self.token_lifetime)})

    # --- sending -------------------------------------------------------------------------------

    def fail_next(self, code: int, count: int = 1) -> None:
        """The next `count` sends fail: a Zalo error code (< 0, HTTP 200) or an HTTP status (>= 400)."""
        self.failures.extend([code] * count)

    def messages_to(self, user_id: str) -> list[SentMessage]:
        return list(self.by_user.get(str(user_id), ()))

    async def _cs(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token", "")
        self.token_checks[token] += 1
        expiry = self.access_tokens.get(token)
        if expiry is None:
            return self._refuse("", -216, "Access token is invalid")
        if expiry <= time.monotonic():
            return self._refuse("", -220, "Access token has expired")
        try:
            body = await request.json()
            user_id = str(body["recipient"]["user_id"])
            message = body["message"]
            text = message.get("text") or ""
        except (ValueError, KeyError, TypeError):
            return self._refuse("", -201, "Parameters are invalid")
        if len(text) > 2000:
            return self._refuse(user_id, -201, "text is too long")
        buttons: list[dict] = []
        attachment = message.get("attachment")
        if attachment is not None:
            payload = attachment.get("payload") or {}
            if attachment.get("type") != "template" or not isinstance(payload.get("buttons"), list):
                return self._refuse(user_id, -201, "attachment is invalid")
            buttons = payload["buttons"]
            if not 1 <= len(buttons) <= 5:
                return self._refuse(user_id, -201, "buttons: 1 to 5")
            for b in buttons:
                if b.get("type") not in BUTTON_TYPES or not b.get("title") or len(b["title"]) > 100:
                    return self._refuse(user_id, -201, "button is invalid")
                if b["type"] == "oa.query.show" and not (isinstance(b.get("payload"), str)
                                                        and 0 < len(b["payload"]) <= 1000):
                    return self._refuse(user_id, -201, "button payload is invalid")
                if b["type"] == "oa.open.url" and not isinstance((b.get("payload") or {}).get("url"), str):
                    return self._refuse(user_id, -201, "button url is invalid")
        if not text and not buttons:
            return self._refuse(user_id, -201, "message is empty")
        if self.failures:
            code = self.failures.popleft()
            if code >= 400:
                self._changed()
                return web.Response(status=code, text="Bad Gateway")
            return self._refuse(user_id, code, f"injected error {code}")
        if user_id in self.user_errors:
            return self._refuse(user_id, self.user_errors[user_id], "user error")
        message_id = f"m{next(self._msg_serial):06d}"
        sent = SentMessage(user_id, text, buttons, message_id, body)
        self.sent.append(sent)
        self.by_user[user_id].append(sent)
        self._changed()
        return web.json_response({"data": {"message_id": message_id, "user_id": user_id,
                                           "quota": {"quota_type": "reply", "remain": "7", "total": "8"}},
                                  "error": 0, "message": "Success"})

    def _refuse(self, user_id: str, code: int, message: str) -> web.Response:
        self.rejected.append((user_id, code))
        self._changed()
        return web.json_response({"error": code, "message": message})

    # --- waiting -------------------------------------------------------------------------------

    async def wait_messages(self, user_id: str, count: int = 1, *, after: int = 0,
                            within: float = 5.0) -> list[SentMessage]:
        """Wait for the user to have `after + count` messages; returns those after the first `after`."""
        key = str(user_id)
        await self.wait_for(lambda: len(self.by_user.get(key, ())) >= after + count, within,
                            f"{count} message(s) to {key} after {after}")
        return self.by_user[key][after:]

    # --- webhook events ------------------------------------------------------------------------

    def _base(self, name: str) -> dict[str, Any]:
        return {"app_id": self.app_id, "user_id_by_app": "55" + str(next(self._event_serial)).zfill(6),
                "event_name": name, "timestamp": str(int(time.time() * 1000) + next(self._event_serial))}

    def event_text(self, user_id: str, text: str, msg_id: str | None = None) -> dict[str, Any]:
        msg_id = msg_id or f"u{next(self._event_serial):08d}"
        return {**self._base("user_send_text"), "sender": {"id": str(user_id)}, "recipient": {"id": OA_ID},
                "message": {"text": text, "msg_id": msg_id}}

    def event_image(self, user_id: str) -> dict[str, Any]:
        return {**self._base("user_send_image"), "sender": {"id": str(user_id)}, "recipient": {"id": OA_ID},
                "message": {"msg_id": f"u{next(self._event_serial):08d}", "attachments": [
                    {"type": "image", "payload": {"url": "https://example.invalid/a.jpg"}}]}}

    def event_sticker(self, user_id: str) -> dict[str, Any]:
        return {**self._base("user_send_sticker"), "sender": {"id": str(user_id)}, "recipient": {"id": OA_ID},
                "message": {"msg_id": f"u{next(self._event_serial):08d}", "attachments": [
                    {"type": "sticker", "payload": {"id": "abc", "url": "https://example.invalid/s"}}]}}

    def event_follow(self, user_id: str, name: str = "follow") -> dict[str, Any]:
        return {**self._base(name), "oa_id": OA_ID, "follower": {"id": str(user_id)}, "source": "oa_profile"}

    def event_unfollow(self, user_id: str) -> dict[str, Any]:
        return self.event_follow(user_id, "unfollow")

    def event_seen(self, user_id: str) -> dict[str, Any]:
        return {**self._base("user_seen_message"), "sender": {"id": str(user_id)}, "recipient": {"id": OA_ID},
                "message": {"msg_ids": ["m000001"]}}

    async def post_webhook(self, url: str, event: dict | bytes, *, signature: str | bool | None = True,
                           secret_key: str | None = None) -> tuple[int, str]:
        """POST an event to the bot's webhook, signed like Zalo (signature=True), with a given header value
        (a string: forged), or without the header (None). Returns (status, body)."""
        body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if signature is True:
            assert isinstance(event, dict)
            mac = sign(str(event["app_id"]), body, str(event["timestamp"]), secret_key or self.secret_key)
            headers["X-ZEvent-Signature"] = f"mac={mac}"
        elif isinstance(signature, str):
            headers["X-ZEvent-Signature"] = signature
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()
