"""Protection of the project's HTTP server against slow and greedy clients: header and body read timeouts,
connection caps per address and in total, refused requests closed at once, repeated network errors
logged at a bounded rate, and a shutdown that closes idle and stalled connections within seconds.

Why: the webhooks are public. Without limits, a body sent at 1 byte/s held its connection for ever, a
few hundred of them exhausted the file descriptors (then /healthz and real webhooks timed out and the
log filled with "Too many open files"), and SIGTERM waited 60 s for stalled connections (aiohttp's
default shutdown timeout).

- Header timeout: aiohttp's keep-alive timer also runs from the moment a connection opens until a
  request's head is complete, and between requests; HEADER_TIMEOUT closes a connection that has not
  sent a whole request head by then (or sits idle that long after a response).
- Body timeout: the `deadline` middleware gives each POST (reading its body and handling it)
  BODY_TIMEOUT seconds; past that it answers 408 and closes the connection. The platforms send a few
  kilobytes at once, so a well-behaved sender never comes near it.
- Early refusal: each adapter checks its signature / secret header before reading the body; every
  refusal (4xx) is answered with "Connection: close", so the rest of a body is never waited for.
- Caps: at most MAX_PER_ADDRESS connections from one address and MAX_TOTAL in all
  (CHONNGHE_HTTP_MAX_CONNECTIONS; kept well under the process's file descriptor limit); a connection over
  a cap is closed at once. Each open web chat page holds one connection (its WebSocket), so the total cap
  is also how many visitors can chat at once. Telegram opens up to 40
  (setWebhook max_connections), from a few addresses.
- Logging: `RepeatFilter` lets one record per logger and message template through per REPEAT_WINDOW and
  counts the rest; network errors (a client that went away) lose their traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0  # seconds to send a whole request head (and the longest idle keep-alive)
BODY_TIMEOUT = 10.0  # seconds to send the body and have the request handled
SHUTDOWN_TIMEOUT = 3.0  # seconds stop() waits for requests in progress before closing their connections
MAX_PER_ADDRESS = 64
MAX_TOTAL = 4096  # 42 KB per idle web chat: 170 MB at most; the file limit lowers it (total_cap)
REPEAT_WINDOW = 10.0  # seconds: one record per logger and message template per window

NOISY_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "asyncio", "bot.httpguard",
                 "bot.channels.telegram", "bot.channels.zalo_oa", "bot.channels.zalo_bot")
_DIGITS = re.compile(r"[0-9a-f:.]*\d[0-9a-f:.]*")
NETWORK_ERRORS = (ConnectionError, TimeoutError, asyncio.CancelledError, asyncio.IncompleteReadError)


def total_cap(most: int | None = None) -> int:
    """`most` (default MAX_TOTAL), or less when the process may open fewer files (a quarter of the limit
    stays free for the database, the platforms' APIs and the log)."""
    most = MAX_TOTAL if most is None else most
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ValueError, OSError):
        return most
    if soft == resource.RLIM_INFINITY:
        return most
    return max(16, min(most, int(soft * 0.75) - 64))


@web.middleware
async def deadline(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
    """BODY_TIMEOUT for reading and handling a POST; refusals close the connection."""
    if request.method != "POST":
        return await handler(request)
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            response = await handler(request)
    except TimeoutError:
        log.warning("request to %s from %s not complete within %g s: closed", request.path, request.remote,
                    BODY_TIMEOUT)
        response = web.Response(status=408, text="request timeout")
    except web.HTTPException as exc:  # raised on (aiohttp wants it raised, not returned)
        if exc.status >= 400:
            exc.force_close()  # never wait for the rest of a refused body
        raise
    if response.status >= 400 and isinstance(response, web.Response):
        response.force_close()  # never wait for the rest of a refused body
    return response


class GuardedRunner(web.AppRunner):
    """web.AppRunner with the timeouts and connection caps above."""

    def __init__(self, app: web.Application, *, max_total: int | None = None, **kwargs: Any):
        """`max_total`: the cap on open connections in all (default MAX_TOTAL; never more than the file
        descriptor limit allows, see total_cap); `kwargs` as for web.AppRunner."""
        kwargs.setdefault("keepalive_timeout", HEADER_TIMEOUT)
        kwargs.setdefault("shutdown_timeout", SHUTDOWN_TIMEOUT)
        kwargs.setdefault("lingering_time", 1.0)
        super().__init__(app, **kwargs)
        self.per_address: Counter[str] = Counter()
        self.accepted: dict[Any, str] = {}
        self.refused = 0
        self.max_total = total_cap(max_total)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            peer = transport.get_extra_info("peername")
            host = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
            if len(self.accepted) >= self.max_total or self.per_address[host] >= MAX_PER_ADDRESS:
                self.refused += 1
                log.warning(
                    "connection from %s refused: %d open from that address, %d in all (caps %d and %d)",
                    host,
                    self.per_address[host],
                    len(self.accepted),
                    MAX_PER_ADDRESS,
                    self.max_total,
                )
                transport.abort()
                return
            self.accepted[handler] = host
            self.per_address[host] += 1

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            host = self.accepted.pop(handler, None)
            if host is not None:
                self.per_address[host] -= 1
                if self.per_address[host] <= 0:
                    del self.per_address[host]
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        return server

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed."""
        return len(self.accepted)


class RepeatFilter(logging.Filter):
    """One record per (logger, level, message template) per REPEAT_WINDOW; the next one let through says
    how many were left out. Records about network errors lose their traceback (a client went away: the
    stack says nothing)."""

    def __init__(self, window: float = REPEAT_WINDOW, clock: Callable[[], float] = time.monotonic):
        """`clock`: monotonic seconds (tests move it)."""
        super().__init__()
        self.window = window
        self.clock = clock
        self._last: dict[tuple[str, int, str], float] = {}
        self._dropped: Counter[tuple[str, int, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat inside the window."""
        if record.exc_info and isinstance(record.exc_info[1], NETWORK_ERRORS):
            record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            record.exc_info, record.exc_text = None, None
        # The template, or (once the redaction filter has merged the arguments in) the text with its
        # numbers, addresses and ports folded, so "from 10.0.0.7" and "from 10.0.0.8" count as one.
        key = (record.name, record.levelno, _DIGITS.sub("#", str(record.msg))[:200])
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.window:
            self._dropped[key] += 1
            return False
        self._last[key] = now
        if len(self._last) > 1000:  # templates are few; ids in a message text would grow this: forget
            self._last = {k: v for k, v in self._last.items() if now - v < self.window}
        dropped = self._dropped.pop(key, 0)
        if dropped:
            record.msg = f"{record.msg} [{dropped} similar line(s) left out in the last {self.window:g} s]"
        return True


def install_repeat_filter(names: tuple[str, ...] = NOISY_LOGGERS) -> RepeatFilter:
    """Put one RepeatFilter on the loggers that an attacker or a bad network can make noisy."""
    found = RepeatFilter()
    for name in names:
        logging.getLogger(name).addFilter(found)
    return found
