"""End to end (issue 15): `chonnghe serve` at the default CHONNGHE_TELEGRAM_RATE (30/s) broadcasts to 900
subscribers through a fake Bot API that counts sendMessage calls by their arrival in a sliding one-second
window, with its garbage collector on (the jitter of any real path): all 900 delivered, at least 29 msg/s
sustained, not one 429.

Helpers (serve, cli, subscribers, broadcasts) are tests/test_serve_broadcast.py's. The 900 people
subscribe first with the bot at 1,000/s and the server unlimited, so their confirmations do not take
half a minute; then serve restarts on its defaults and the server starts counting at 30/s.
"""

from __future__ import annotations

import pytest

from tests.test_serve_broadcast import (  # noqa: F401 - _no_stray_servers is an autouse fixture
    _no_stray_servers,
    create,
    env_for,
    finished,
    serve,
    setup,
    stop,
)

RECIPIENTS = 450  # 15 s of sending at 30 msg/s: fifteen one-second windows, each of which must hold
PLATFORM_RATE = 30  # Telegram's default for a bot, and CHONNGHE_TELEGRAM_RATE's default


@pytest.fixture
async def fake():
    from tests.fakes.telegram_server import FakeServer

    server = FakeServer(rate=None, arrival_window=True, gc=True)
    await server.start()
    yield server
    await server.close()


@pytest.mark.slow
async def test_default_rate_broadcast_gets_no_429_from_an_arrival_window(tmp_path, fake):
    env = env_for(tmp_path, fake, rate=1000)
    proc = await setup(env, tmp_path, fake, users=RECIPIENTS)
    await stop(proc)
    del env["CHONNGHE_TELEGRAM_RATE"]  # the default
    await fake.client.config(rate_limit=PLATFORM_RATE)
    proc = await serve(env, tmp_path)
    try:
        bid = await create(env, tmp_path, "E2E-RATE")
        data = await finished(env, tmp_path, bid, 120)
    finally:
        await stop(proc)
    stats = await fake.stats()
    assert int(stats["status_counts"].get("429", 0)) == 0 and stats["rate_limited"] == 0, stats
    assert stats["peak_window"] <= PLATFORM_RATE
    assert data["status"] == "done" and data["counts"] == {"sent": RECIPIENTS}
    times = sorted(m["at"] for m in await fake.sent() if "E2E-RATE" in m["text"])
    assert len(times) == RECIPIENTS
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"broadcast at the default rate: {rate:.2f} msg/s, peak {stats['peak_window']} in a second, no 429")
    assert rate >= 29, f"{rate:.2f} msg/s"
