"""/healthz tells the truth (database reachable and writable, last write, the dispatcher's backlog, each
channel; 503 when the service cannot do its job), and SQLite faults are survived or refused clearly: files
made immutable for a while (writes recover afterwards, buffered questions are kept and written), a
database file deleted or replaced while serving (the process stops with a clear message and exit code
instead of serving from an empty file), a start on a database that cannot be written (refused, exit code)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from bot import health
from bot.outbound import NullLimiter
from bot.storage.models import QuestionLog, Subscription
from tests.channels.test_telegram_polling import TgUser
from tests.channels.test_telegram_polling import make_settings as tg_settings
from tests.fakes import running_app
from tests.fakes.telegram_api import FakeTelegram
from tests.test_serve_telegram import Serve, content_for_serve, serve_env

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _chattr_works(tmp: Path) -> bool:
    probe = tmp / "chattr-probe"
    probe.write_text("x")
    try:
        ok = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["chattr", "-i", str(probe)], check=True)
        return ok
    except FileNotFoundError:
        return False
    finally:
        probe.unlink(missing_ok=True)


def immutable(paths: list[Path], on: bool) -> None:
    for path in paths:
        if path.exists():
            subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


@pytest.fixture
def needs_chattr(tmp_path):
    if not _chattr_works(tmp_path):
        pytest.skip("making a file immutable needs chattr and root on a filesystem that supports it")


async def get_health(port: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as resp:
        return resp.status, await resp.json()


async def test_healthz_reports_database_dispatcher_and_channels(db_url):
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake), limiter=NullLimiter()) as app:
        status, body = await get_health(app.port)
        assert status == 200 and body["status"] == "ok", body
        db = body["database"]
        assert db["reachable"] is True and db["writable"] is True and db["last_write"]
        assert db["unwritten_questions"] == 0
        assert set(body["dispatcher"]) >= {"queued", "in_hand", "sent"}
        assert body["channels"]["telegram"] == "on" and body["channels"]["zalo_bot"].startswith("off")


async def test_healthz_is_degraded_only_by_questions_waiting_for_seconds(db_url, clock):
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake), limiter=NullLimiter(),
                                                   clock=clock) as app:
        questions = app.store.questions
        # A question queued a moment ago waits for company (the linger): that is how writes work.
        questions._queue.append(({"asked_at": clock.now()}, None))
        try:
            status, body = await get_health(app.port)
            assert status == 200 and body["status"] == "ok", body
            assert body["database"]["unwritten_questions"] == 1
            clock.advance(seconds=health.STALE_QUESTION_S + 1)  # ...but not for seconds
            status, body = await get_health(app.port)
            assert status == 200 and body["status"] == "degraded"
            assert any("waiting to be written" in p for p in body["problems"]), body
        finally:
            questions._queue.clear()


async def test_healthz_is_503_while_the_database_is_unreachable(db_url, monkeypatch):
    monkeypatch.setattr(health, "PROBE_EVERY", 0.0)
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake), limiter=NullLimiter()) as app:
        real = app.store.engine

        class Broken:
            def connect(self):
                raise OSError("connection refused")

        app.health.store.engine = Broken()  # the database server went away
        status, body = await get_health(app.port)
        assert status == 503 and body["status"] == "failing"
        assert body["database"]["reachable"] is False and "connection refused" in body["database"]["error"]
        app.health.store.engine = real
        status, body = await get_health(app.port)
        assert status == 200 and body["database"]["writable"] is True


async def test_immutable_files_then_writable_again_writes_recover(tmp_path, needs_chattr, monkeypatch):
    monkeypatch.setattr(health, "PROBE_EVERY", 0.0)
    db_file = tmp_path / "fault.db"
    # The database and its write-ahead log (not the -shm index: SQLite maps it in memory, and an
    # immutable one makes the process die of SIGBUS, whatever the application does).
    files = [db_file, Path(f"{db_file}-wal")]
    settings_url = f"sqlite+aiosqlite:///{db_file}"
    async with (
        FakeTelegram() as fake,
        running_app(tg_settings(settings_url, fake), limiter=NullLimiter()) as app,
    ):
        an = TgUser(fake, 3001)
        await an.say("/start", expect=2)
        immutable(files, True)
        try:
            status, body = await get_health(app.port)
            assert status == 503 and body["database"]["writable"] is False, body
            await an.say("học phí học nghề bao nhiêu")  # answered (an apology at worst), nothing crashes
            for n in range(5):  # questions logged during the fault: buffered, not lost
                app.store.questions.log_later(None, "telegram", f"câu {n}", f"cau {n}", None, 0.0, False)
            await asyncio.sleep(0.3)  # the group commit tries, and fails, meanwhile
            assert app.store.questions.pending >= 5
        finally:
            immutable(files, False)
        status, body = await get_health(app.port)
        assert status == 200 and body["database"]["writable"] is True, body
        # Writes work again: a new person subscribes, and the buffered questions reach the table.
        bich = TgUser(fake, 3002)
        await bich.say("/start", expect=2)
        await bich.tap("THPT")
        await bich.tap("Từ 16")
        (done,) = await bich.say("/dangky tuyen_sinh")
        assert "Đã đăng ký" in done.text
        await app.store.flush(give_up_after=10)
        async with app.store.session() as s:
            subs = (await s.execute(sa.select(sa.func.count()).select_from(Subscription))).scalar_one()
            asked = (await s.execute(sa.select(sa.func.count()).select_from(QuestionLog))).scalar_one()
        assert subs == 1 and asked >= 5


async def test_serve_refuses_to_start_on_a_database_it_cannot_write(tmp_path, needs_chattr):
    env = serve_env(tmp_path)
    async with Serve(env, "--content", content_for_serve()) as serve:  # creates and migrates the file
        await serve.port()
        assert await serve.terminate() == 0
    files = [tmp_path / "serve.db", tmp_path / "serve.db-wal"]
    immutable(files, True)
    try:
        async with Serve(env, "--content", content_for_serve()) as serve:
            code = await asyncio.wait_for(serve.proc.wait(), 60)
            await asyncio.wait_for(serve._reader, 5)
    finally:
        immutable(files, False)
    assert code == 3, serve.log
    assert any("refusing to start: the database is not writable" in line for line in serve.log), serve.log
    assert not any("Traceback" in line for line in serve.log), serve.log
    assert not any("HTTP server on" in line for line in serve.log)


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
async def test_serve_stops_when_its_database_file_goes_away(tmp_path, fault):
    async with FakeTelegram() as fake:
        env = serve_env(tmp_path, CHONNGHE_TELEGRAM_TOKEN="123:ABC", CHONNGHE_TELEGRAM_API_URL=fake.base_url)
        async with Serve(env, "--content", content_for_serve()) as serve:
            await serve.port()
            fake.push_message(4242, "/start")
            await fake.wait_messages(4242, 2, within=15)
            db_file = tmp_path / "serve.db"
            if fault == "deleted":
                for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
                    path.unlink(missing_ok=True)
            else:
                shutil.copy(db_file, tmp_path / "other.db")
                (tmp_path / "other.db").replace(db_file)
            fake.push_message(4243, "/start")  # someone writes meanwhile
            code = await asyncio.wait_for(serve.proc.wait(), 30)
            await asyncio.wait_for(serve._reader, 5)
    assert code == 3, serve.log
    assert any(f"was {fault}" in line and "stopping" in line for line in serve.log), serve.log
    if fault == "deleted":
        assert not db_file.exists()  # no empty database file was created to serve from
