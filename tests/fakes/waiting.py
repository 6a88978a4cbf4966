"""Waiting on a fake server's state: every change wakes the waiters, which re-check their condition."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

RECHECK = 0.5  # a waiter also re-checks this often, in case a change happened outside _changed()


class ChangeWaiters:
    """Mixin for the fakes: `self._waiters` (a list the fake creates and resets), `_changed()` after
    every change, and `wait_for(predicate)`."""

    _waiters: list[asyncio.Future]

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_for(
        self, predicate: Callable[[], Any], within: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until predicate() is truthy (checked after every change on the server); returns its value.
        Raises TimeoutError after `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {within} s waiting for {what}")
            fut = loop.create_future()
            self._waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, min(remaining, RECHECK))
