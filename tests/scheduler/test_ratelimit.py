"""The shared limiter: pace per channel, one message per second per Telegram chat for bulk, a pause
on 429, a cap on bulk sends in flight, and live replies ahead of bulk."""

from __future__ import annotations

import asyncio

from scheduler.ratelimit import ON_GRANT, ChannelGate, RateLimiter


async def timed_sends(limiter: RateLimiter, chats: list[str], bulk: bool = True, channel: str = "telegram"):
    loop = asyncio.get_running_loop()
    times = []

    async def one(chat: str):
        async with limiter.slot(channel, chat, bulk=bulk):
            times.append(loop.time())

    await asyncio.gather(*(one(c) for c in chats))
    return sorted(times)


async def test_pace_stays_within_the_rate_in_every_window():
    limiter = RateLimiter({"telegram": 50}, bulk_concurrency=64)
    times = await timed_sends(limiter, [str(i) for i in range(120)])
    elapsed = times[-1] - times[0]
    assert 119 / elapsed <= 50.5  # never faster than configured ...
    assert 119 / elapsed >= 45  # ... and not much slower
    for i in range(len(times) - 50):  # the sliding window: at most 50 in any second
        assert times[i + 50] - times[i] >= 1.0


async def test_bulk_waits_a_second_per_chat_live_may_burst():
    limiter = RateLimiter({"telegram": 1000}, bulk_concurrency=8)
    bulk = await timed_sends(limiter, ["7", "7", "7"], bulk=True)
    assert bulk[1] - bulk[0] >= 0.99 and bulk[2] - bulk[1] >= 0.99
    live = await timed_sends(limiter, ["8", "8", "8"], bulk=False)
    assert live[-1] - live[0] < 0.1  # a reply of a few messages goes out together


async def test_pause_holds_every_send_on_the_channel():
    limiter = RateLimiter({"telegram": 1000, "zalo_bot": 1000})
    loop = asyncio.get_running_loop()
    start = loop.time()
    limiter.pause("telegram", 0.3)
    assert 0.25 < limiter.paused_for("telegram") <= 0.3
    other = await timed_sends(limiter, ["1"], channel="zalo_bot")
    assert other[0] - start < 0.1  # other channels are not held
    held = await timed_sends(limiter, ["1", "2"], bulk=False)
    assert held[0] - start >= 0.29


async def test_bulk_in_flight_is_capped():
    limiter = RateLimiter({"telegram": 1000}, bulk_concurrency=3)
    active = peak = 0

    async def one(chat: str):
        nonlocal active, peak
        async with limiter.slot("telegram", chat, bulk=True):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    await asyncio.gather(*(one(str(i)) for i in range(20)))
    assert peak == 3


async def test_live_replies_go_before_waiting_bulk_sends():
    gate = ChannelGate("telegram", rate=20)
    order: list[str] = []

    async def take(label: str, live: bool):
        await gate.acquire(live=live)
        order.append(label)

    bulk = [asyncio.create_task(take(f"b{i}", False)) for i in range(6)]
    await asyncio.sleep(0.06)  # a couple of bulk sends went out; the rest wait for tokens
    live = asyncio.create_task(take("live", True))
    await asyncio.gather(*bulk, live)
    assert order.index("live") <= order.index("b3"), order  # served at the next token, ahead of the queue


async def test_the_grant_hook_fires_inside_the_slot():
    limiter = RateLimiter({"telegram": 1000})
    fired = []
    token = ON_GRANT.set(lambda: fired.append("granted"))
    try:
        async with limiter.slot("telegram", "1", bulk=True):
            fired.append("inside")
    finally:
        ON_GRANT.reset(token)
    assert fired == ["granted", "inside"]


async def test_unknown_channels_are_not_paced():
    limiter = RateLimiter({})
    times = await timed_sends(limiter, ["1"] * 20, channel="web")
    assert times[-1] - times[0] < 0.05


class FakeTime:
    """A monotonic clock that moves only when someone sleeps on it."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


async def test_telegram_groups_get_at_most_20_messages_a_minute():
    fake = FakeTime()
    limiter = RateLimiter({}, time_fn=fake, sleep_fn=fake.sleep)
    times = []
    for _ in range(45):  # one after the other, as the staff summaries and handoff cards are sent
        async with limiter.slot("telegram", "-100500", bulk=False):
            times.append(fake())
    for i in range(len(times) - 20):  # the 21st message of any minute waits for the 1st to leave it
        assert times[i + 20] - times[i] >= 60.0, (i, times[i], times[i + 20])
    assert times[19] - times[0] < 20  # within the limit, the per-chat pace alone applies
    assert times[20] - times[0] == 60.0  # and the wait is no longer than needed

    private = []
    for _ in range(25):
        async with limiter.slot("telegram", "42", bulk=False):
            private.append(fake())
    assert private[-1] - private[0] == 22.0  # a private chat: 3 at once, then one a second; no group limit
