"""An aiohttp transport for python-telegram-bot (telegram.request.BaseRequest).

Why: PTB's default transport (httpx) reached only about 170-370 sendMessage calls per second against a
local fake Bot API on these machines, whatever the pool size, while a plain aiohttp client reached about
3,700. PTB lets the transport be replaced (`Bot(request=..., get_updates_request=...)`), so the bot keeps
PTB's types, methods and error mapping, and sends through one aiohttp.ClientSession with a sized
connector. Figures before and after: docs/benchmarks.md, "Telegram conversation".
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)


class JsonRequestData(RequestData):
    """RequestData from plain JSON values, for the hot path (sendMessage): building PTB objects for the
    keyboard and parsing the returned Message cost more than the HTTP call itself at hundreds per second.
    Works with any BaseRequest (JSON body here, form fields for PTB's httpx transport)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]):
        super().__init__()
        self._values = {k: v for k, v in values.items() if v is not None}

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters as given (None values left out)."""
        return dict(self._values)

    @property
    def json_parameters(self) -> dict[str, str]:
        """Each parameter as a string: JSON for anything that is not one already."""
        return {
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in self._values.items()
        }

    @property
    def json_payload(self) -> bytes:
        """The parameters as one UTF-8 JSON body."""
        return json.dumps(self._values, ensure_ascii=False).encode("utf-8")

    @property
    def multipart_data(self) -> dict:
        """Nothing: the bot sends no files."""
        return {}


class AiohttpRequest(BaseRequest):
    """One ClientSession per instance; `connection_limit` caps concurrent connections to the Bot API."""

    __slots__ = ("_connect_timeout", "_limit", "_pool_timeout", "_read_timeout", "_session", "_write_timeout")

    def __init__(self, connection_limit: int = 256, *, read_timeout: float | None = 10.0,
                 write_timeout: float | None = 10.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 5.0):
        self._limit = connection_limit
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds (None: wait for ever)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the pooled aiohttp session (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit, ttl_dns_cache=300,
                                             enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}, json_serialize=json.dumps
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    @staticmethod
    def _pick(value, default):
        return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one Bot API request; returns (HTTP status, body) for python-telegram-bot to read."""
        if self._session is None or self._session.closed:
            await self.initialize()
        assert self._session is not None
        read = self._pick(read_timeout, self._read_timeout)
        connect = self._pick(connect_timeout, self._connect_timeout)
        pool = self._pick(pool_timeout, self._pool_timeout)
        # aiohttp's `connect` covers waiting for a free pooled connection as well as connecting.
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None and pool is None else (connect or 0) + (pool or 0),
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] = {}
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mime) in request_data.multipart_data.items():
                    form.add_field(name, content, filename=filename, content_type=mime)
                data = form
            else:
                data = json.dumps(request_data.parameters, ensure_ascii=False).encode("utf-8")
                headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as resp:
                return resp.status, await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimedOut(f"Timed out: {exc!r}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
