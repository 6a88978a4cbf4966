"""The shared limiter: pace per channel, a per-second cap that holds however late requests reach the
platform, one message per second per Telegram chat for bulk, a pause on 429, a cap on bulk sends in
flight, and live replies ahead of bulk. Time is a bot.clock.FakeClock: nothing here sleeps."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from scheduler.ratelimit import CATCH_UP, ON_GRANT, WINDOW_MARGIN, ChannelGate, RateLimiter


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


async def timed_sends(limiter: RateLimiter, chats: list[str], bulk: bool = True, channel: str = "telegram"):
    times = []

    async def one(chat: str):
        async with limiter.slot(channel, chat, bulk=bulk):
            times.append(limiter.clock.monotonic())

    await asyncio.gather(*(one(c) for c in chats))
    return sorted(times)


def most_in_one_second(times: list[float]) -> int:
    """The largest number of `times` in any half-open one-second window, as a server counts them."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


async def test_pace_stays_within_the_rate_in_every_window(clock):
    limiter = RateLimiter({"telegram": 50}, bulk_concurrency=64, clock=clock)
    times = await timed_sends(limiter, [str(i) for i in range(120)])
    elapsed = times[-1] - times[0]
    assert most_in_one_second(times) <= 50  # never faster than configured ...
    assert 119 / elapsed >= 49  # ... and hardly slower (answers are instant here)
    burst = limiter.gates["telegram"].burst  # even: a late grant makes up for at most a short burst
    assert max(times.count(t) for t in times) <= burst <= 50 * CATCH_UP + 1


async def arrivals_through(limiter: RateLimiter, clock: FakeClock, count: int, outward, back) -> list[float]:
    """`count` bulk sends, each reaching the 'server' outward() seconds after its grant (stamped then,
    as a platform counts it) and answered back() seconds later. Returns the arrival times."""
    arrivals: list[float] = []

    async def one(i: int):
        async with limiter.slot("telegram", str(i), bulk=True):
            await clock.sleep(outward())
            arrivals.append(clock.monotonic())
            await clock.sleep(back())

    await asyncio.gather(*(one(i) for i in range(count)))
    return arrivals


@pytest.mark.parametrize("rate", [30, 1000])
async def test_late_and_bunched_arrivals_never_exceed_the_rate(clock, rate):
    """The platform counts arrivals; ours come 2 ms to 100 ms after the grant, now and then a long stall
    (any request may be the late one), so some bunch up behind earlier ones. Counting grants alone
    (with a margin under the jitter) lets 31 arrivals into one second here."""
    rnd = random.Random(15)

    def outward() -> float:
        return 0.002 + (rnd.uniform(0, 0.1) if rnd.random() < 0.05 else rnd.uniform(0, 0.003))

    limiter = RateLimiter({"telegram": rate}, bulk_concurrency=64, clock=clock)
    arrivals = await arrivals_through(limiter, clock, rate * 5, outward, lambda: 0.002)
    assert len(arrivals) == rate * 5
    assert most_in_one_second(arrivals) <= rate


async def test_a_round_trip_costs_its_length_and_no_more(clock):
    """Each request is counted from its grant until a second after its answer: with every round trip
    200 ms the channel sends at 30 / 1.2 a second, and uses all of that."""
    limiter = RateLimiter({"telegram": 30}, bulk_concurrency=16, clock=clock)
    arrivals = await arrivals_through(limiter, clock, 300, lambda: 0.1, lambda: 0.1)
    arrivals.sort()
    assert most_in_one_second(arrivals) <= 30
    # 300 requests are ten rounds of 30; the last round starts 9 x (1.2 s + margin) after the first.
    span = arrivals[-1] - arrivals[0]
    assert 9 * 1.2 <= span <= 9 * (1.2 + WINDOW_MARGIN) + 1.0, span


async def test_requests_in_flight_count_until_answered(clock):
    """A request not answered yet may still reach the platform at any moment: it holds its place."""
    gate = ChannelGate("telegram", rate=3, clock=clock)
    granted = [await gate.acquire(live=False) for _ in range(3)]
    fourth = asyncio.create_task(gate.acquire(live=False))
    for _ in range(5):
        await clock.sleep(2.0)  # seconds pass; the three are still in flight
    assert not fourth.done()
    gate.release(granted[0])  # answered now: counted one more second
    answered = clock.monotonic()
    assert await fourth >= answered + 1.0


async def test_a_grant_cancelled_before_sending_gives_its_place_back(clock):
    gate = ChannelGate("telegram", rate=1, clock=clock)
    first = await gate.acquire(live=False)
    waiter = asyncio.create_task(gate.acquire(live=False))
    await asyncio.sleep(0)  # it queues
    take = gate._take

    def take_and_cancel(now: float) -> float:  # the grant loop hands it the token, and in the same
        asyncio.get_running_loop().call_soon(waiter.cancel)  # turn of the loop it is cancelled
        return take(now)

    gate._take = take_and_cancel  # type: ignore[method-assign]
    gate.release(first)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.in_flight == 0


async def test_bulk_waits_a_second_per_chat_live_may_burst(clock):
    limiter = RateLimiter({"telegram": 1000}, bulk_concurrency=8, clock=clock)
    bulk = await timed_sends(limiter, ["7", "7", "7"], bulk=True)
    assert bulk[1] - bulk[0] >= 1.0 and bulk[2] - bulk[1] >= 1.0
    live = await timed_sends(limiter, ["8", "8", "8"], bulk=False)
    assert live[-1] - live[0] < 0.01  # a reply of a few messages goes out together


async def test_pause_holds_every_send_on_the_channel_exactly_as_long_as_asked(clock):
    limiter = RateLimiter({"telegram": 1000, "zalo_bot": 1000}, clock=clock)
    start = clock.monotonic()
    limiter.pause("telegram", 3.0)  # a 429's retry_after
    assert limiter.paused_for("telegram") == 3.0
    other = await timed_sends(limiter, ["1"], channel="zalo_bot")
    assert other[0] == start  # other channels are not held
    held = await timed_sends(limiter, ["1", "2"], bulk=False)
    assert held[0] == start + 3.0


async def test_bulk_in_flight_is_capped(clock):
    limiter = RateLimiter({"telegram": 1000}, bulk_concurrency=3, clock=clock)
    active = peak = 0

    async def one(chat: str):
        nonlocal active, peak
        async with limiter.slot("telegram", chat, bulk=True):
            active += 1
            peak = max(peak, active)
            await clock.sleep(0.01)
            active -= 1

    await asyncio.gather(*(one(str(i)) for i in range(20)))
    assert peak == 3


async def test_live_replies_go_before_waiting_bulk_sends(clock):
    gate = ChannelGate("telegram", rate=20, clock=clock)
    order: list[str] = []

    async def take(label: str, live: bool):
        gate.release(await gate.acquire(live=live))
        order.append(label)

    bulk = [asyncio.create_task(take(f"b{i}", False)) for i in range(30)]
    await clock.sleep(0.06)  # a few bulk sends went out; the rest wait for tokens
    ahead = len(order)
    assert 0 < ahead < 30
    live = asyncio.create_task(take("live", True))
    await asyncio.gather(*bulk, live)
    assert order.index("live") == ahead, order  # served at the next token, ahead of the queue


async def test_the_grant_hook_fires_inside_the_slot(clock):
    limiter = RateLimiter({"telegram": 1000}, clock=clock)
    fired = []
    token = ON_GRANT.set(lambda: fired.append("granted"))
    try:
        async with limiter.slot("telegram", "1", bulk=True):
            fired.append("inside")
    finally:
        ON_GRANT.reset(token)
    assert fired == ["granted", "inside"]


async def test_unknown_channels_are_not_paced(clock):
    limiter = RateLimiter({}, clock=clock)
    times = await timed_sends(limiter, ["1"] * 20, channel="web")
    assert times[-1] == times[0]


async def test_telegram_groups_get_at_most_20_messages_a_minute(clock):
    limiter = RateLimiter({}, clock=clock)
    times = []
    for _ in range(45):  # one after the other, as the staff summaries and handoff cards are sent
        async with limiter.slot("telegram", "-100500", bulk=False):
            times.append(clock.monotonic())
    for i in range(len(times) - 20):  # the 21st message of any minute waits for the 1st to leave it
        assert times[i + 20] - times[i] >= 60.0, (i, times[i], times[i + 20])
    assert times[19] - times[0] < 20  # within the limit, the per-chat pace alone applies
    assert times[20] - times[0] == 60.0  # and the wait is no longer than needed

    private = []
    for _ in range(25):
        async with limiter.slot("telegram", "42", bulk=False):
            private.append(clock.monotonic())
    assert private[-1] - private[0] == 22.0  # a private chat: 3 at once, then one a second; no group limit


async def test_the_fake_clock_sleeps_without_the_wall_clock(clock):
    start, wall = clock.monotonic(), asyncio.get_running_loop().time()
    await clock.sleep(3600)
    assert clock.monotonic() == start + 3600
    assert clock.now() == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert asyncio.get_running_loop().time() - wall < 1.0
