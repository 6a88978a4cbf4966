"""End to end: `chonnghe serve` in polling mode against a fake Bot API server in another process.

1,000 users send /dangky tuyen_sinh; a broadcast created with the CLI reaches each exactly once and
`broadcast show --json` ends done with 1,000 sent. Then the same with SIGKILL mid-way and a restart,
and with blocked recipients and a server answering 429 / 502 now and then.

The fake server is tests/fakes/telegram_api.py in its own process (getUpdates, sendMessage, error
injection), driven through tests.fakes.telegram_server.FakeServer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import CONTENT_DIR, ROOT
from tests.fakes.telegram_server import TOKEN, FakeServer

pytestmark = pytest.mark.slow  # the suite's three slowest tests: 1,000 people, real processes

USERS = 1000
FIRST_ID = 700_000
CONCURRENCY = 16


@pytest.fixture
async def fake():
    server = FakeServer(rate=None)
    await server.start()
    yield server
    await server.close()


def env_for(tmp_path: Path, fake, rate: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHONNGHE_")}
    env.update({
        "PYTHONPATH": str(ROOT),
        "CHONNGHE_DATABASE_URL": f"sqlite:///{tmp_path}/e2e.db",
        "CHONNGHE_CONTENT_DIR": str(CONTENT_DIR),
        "CHONNGHE_HTTP_PORT": "0",
        "CHONNGHE_TELEGRAM_TOKEN": TOKEN,
        "CHONNGHE_TELEGRAM_API_URL": f"{fake.url}/bot",
        "CHONNGHE_TELEGRAM_MODE": "polling",
        "CHONNGHE_TELEGRAM_RATE": str(rate),
        "CHONNGHE_BROADCAST_CONCURRENCY": str(CONCURRENCY),
        "CHONNGHE_QUIET_HOURS": "",  # the test may run at night
        "CHONNGHE_LOG_LEVEL": "WARNING",
    })
    return env


_STARTED: list[asyncio.subprocess.Process] = []


@pytest.fixture(autouse=True)
async def _no_stray_servers():
    """Whatever happens in a test (a timeout, a failed assertion before its `finally`), no
    `chonnghe serve` outlives it."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def serve(env: dict[str, str], tmp_path: Path) -> asyncio.subprocess.Process:
    with open(tmp_path / "serve.log", "ab") as log:  # noqa: ASYNC230 - a test helper; the child inherits it
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env, stdout=log, stderr=log
        )
    _STARTED.append(proc)
    return proc


async def cli(env: dict[str, str], tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def subscribe_everyone(fake, users: int = USERS) -> None:
    updates = [{"message": {"message_id": i + 1, "date": 0, "text": "/dangky tuyen_sinh",
                            "chat": {"id": FIRST_ID + i, "type": "private"},
                            "from": {"id": FIRST_ID + i, "is_bot": False, "first_name": f"HS{i}"}}}
               for i in range(users)]
    for update in updates:
        await fake.client._call("POST", "update", update)


async def subscribers(db: Path) -> int:
    from bot.storage.db import create_engine
    from bot.storage.repo import Store

    if not db.exists():  # noqa: ASYNC240 - a test helper
        return 0
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        try:
            stats = await Store(engine).stats.since(datetime.now(UTC))
        except OperationalError:  # serve has not finished its migrations yet
            return 0
        return stats["subscribers_by_topic"].get("tuyen_sinh", 0)
    finally:
        await engine.dispose()


async def until(check, limit: float, step: float = 0.2):
    async with asyncio.timeout(limit):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(step)


async def show(env, tmp_path, bid: int) -> dict:
    code, out, err = await cli(env, tmp_path, "broadcast", "show", str(bid), "--json")
    assert code == 0, err
    return json.loads(out)


async def setup(env, tmp_path, fake, users: int = USERS) -> asyncio.subprocess.Process:
    proc = await serve(env, tmp_path)
    await subscribe_everyone(fake, users)
    await until(lambda: _at_least(subscribers(tmp_path / "e2e.db"), users), 60)
    # And every confirmation delivered: one still on its way when a test then blocks that person would
    # (rightly) mark them unreachable before the broadcast, and they would not be among its recipients.
    await until(lambda: _at_least(confirmed(fake), users), 60)
    return proc


async def confirmed(fake) -> int:
    """How many people have received the confirmation of their sign-up."""
    return len(await fake.received(contains="Đã đăng ký nhận"))


async def _at_least(coro, n: int) -> bool:
    return (await coro) >= n


async def create(env, tmp_path, marker: str) -> int:
    code, out, err = await cli(env, tmp_path, "broadcast", "create", "--text", f"Mùa tuyển sinh {marker}",
                               "--topic", "tuyen_sinh")
    assert code == 0, err
    return int(out.strip())


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)


async def test_every_subscriber_gets_the_broadcast_exactly_once(tmp_path, fake):
    env = env_for(tmp_path, fake, rate=1000)
    proc = await setup(env, tmp_path, fake)
    try:
        bid = await create(env, tmp_path, "E2E-ONCE")
        data = await finished(env, tmp_path, bid, 60)
    finally:
        await stop(proc)
    assert data["status"] == "done" and data["counts"] == {"sent": USERS} and data["total"] == USERS
    assert data["channels"] == {"telegram": {"sent": USERS}}
    received = await fake.received(contains="E2E-ONCE")
    assert len(received) == USERS and set(received.values()) == {1}


async def test_sigkill_mid_way_and_restart(tmp_path, fake):
    env = env_for(tmp_path, fake, rate=250)  # four seconds of sending: time to kill it in the middle
    proc = await setup(env, tmp_path, fake)
    bid = await create(env, tmp_path, "E2E-KILL")

    async def some_received():
        return len(await fake.received(contains="E2E-KILL")) >= USERS // 3

    await until(some_received, 60, step=0.05)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    before = len(await fake.received(contains="E2E-KILL"))
    assert before < USERS
    proc = await serve(env, tmp_path)
    try:
        data = await finished(env, tmp_path, bid, 90)
    finally:
        await stop(proc)
    received = await fake.received(contains="E2E-KILL")
    assert data["status"] == "done" and data["total"] == USERS
    assert set(data["counts"]) <= {"sent", "unknown"}
    assert data["counts"].get("unknown", 0) <= CONCURRENCY
    assert len(received) == USERS, "somebody was missed"
    assert sum(n - 1 for n in received.values()) <= CONCURRENCY


async def test_blocked_end_blocked_and_errors_lose_nobody(tmp_path, fake):
    # 400 people: each injected 429 pauses the whole channel for its retry_after (a second), so the
    # length of this test is about the number of 429s.
    users = 400
    env = env_for(tmp_path, fake, rate=1000)
    proc = await setup(env, tmp_path, fake, users)
    blocked = [str(FIRST_ID + i) for i in (3, 77, 312)]
    await fake.client.config(blocked=blocked, p429=0.03, p502=0.03)
    try:
        bid = await create(env, tmp_path, "E2E-ERR")
        data = await finished(env, tmp_path, bid, 90)
    finally:
        await stop(proc)
    assert data["status"] == "done"
    assert data["counts"] == {"sent": users - 3, "blocked": 3}
    received = await fake.received(contains="E2E-ERR")
    assert len(received) == users - 3 and set(received.values()) == {1}
    assert not set(blocked) & set(received)
    statuses = (await fake.stats())["status_counts"]
    assert int(statuses.get("429", 0)) > 0 and int(statuses.get("502", 0)) > 0  # both kinds were injected


async def finished(env: dict[str, str], tmp_path: Path, bid: int, limit: float) -> dict:
    """Wait until broadcast `bid` has ended, then what `chonnghe broadcast show --json` says of it.

    The wait reads the status from the database in this process: a CLI process every 0.2 s (a second of
    CPU each) would compete with the serve process it is watching."""
    import sqlalchemy as sa

    from bot.config import Settings
    from bot.storage.db import create_engine

    url = Settings.load(database_url=env["CHONNGHE_DATABASE_URL"], _env_file=None).database_url
    engine = create_engine(url)

    async def ended() -> bool:
        try:
            async with engine.connect() as conn:
                status = (await conn.execute(sa.text("SELECT status FROM broadcasts WHERE id = :id"),
                                             {"id": bid})).scalar_one_or_none()
        except OperationalError:  # locked for a moment by the writer
            return False
        return status not in (None, "scheduled", "sending")

    try:
        await until(ended, limit)
    finally:
        await engine.dispose()
    return await show(env, tmp_path, bid)
