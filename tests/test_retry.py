"""bot.retry.retry_send: the platform's error decides whether and how long a send waits before trying
again."""

from __future__ import annotations

import pytest

from bot.ports import Blocked, Deferred, RateLimited, Transient
from bot.retry import retry_send


class Script:
    """A send that fails with the given errors, then returns "ok"; records the waits instead of sleeping."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0
        self.waits: list[float] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_rate_limits_wait_their_retry_after_and_transients_back_off():
    send = Script(RateLimited("429", 3.0), Transient("502"), Transient("502"), Deferred("night", 1.5))
    assert await retry_send(send, attempts=5, longest_wait=30, backoff=0.5, sleep=send.sleep) == "ok"
    assert send.waits == [3.0, 0.5, 1.0, 1.5] and send.calls == 5


async def test_a_wait_longer_than_allowed_and_the_last_failure_propagate():
    send = Script(RateLimited("429", 120.0))
    with pytest.raises(RateLimited):
        await retry_send(send, attempts=3, longest_wait=60, sleep=send.sleep)
    assert send.waits == []
    send = Script(Transient("a"), Transient("b"), Transient("c"))
    with pytest.raises(Transient, match="c"):
        await retry_send(send, attempts=3, longest_wait=60, sleep=send.sleep)
    assert send.calls == 3


async def test_other_errors_are_not_retried():
    send = Script(Blocked("blocked the bot"))
    with pytest.raises(Blocked):
        await retry_send(send, attempts=3, longest_wait=60, sleep=send.sleep)
    assert send.calls == 1
