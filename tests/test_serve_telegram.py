"""`chonnghe serve` as a subprocess, polling a fake Bot API server started here: /start, a question,
/dangky tuyen_sinh, /chude, /huy tatca and /xoadulieu answered in Vietnamese; SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys

import aiohttp
import pytest

from tests.conftest import CONTENT_DIR, ROOT
from tests.fakes import FIXTURE_CONTENT
from tests.fakes.telegram_api import FakeTelegram

USER = 4242
VIETNAMESE = re.compile(r"[ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ]", re.I)


def content_for_serve() -> str:
    """The shipped content: what `chonnghe serve` runs with."""
    return str(CONTENT_DIR)


class Serve:
    """The bot process; its stderr (the log) is collected so the test can read the HTTP port from it."""

    def __init__(self, env: dict[str, str], *args: str):
        self.env, self.args = env, args
        self.log: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._port: asyncio.Future[int] | None = None

    async def __aenter__(self) -> Serve:
        self._port = asyncio.get_running_loop().create_future()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", *self.args, cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.log.append(line)
            found = re.search(r"HTTP server on [\d.]+:(\d+)", line)
            if found and self._port is not None and not self._port.done():
                self._port.set_result(int(found.group(1)))

    async def port(self) -> int:
        assert self._port is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._port), 30)
        except TimeoutError:
            raise AssertionError("serve did not start:\n" + "\n".join(self.log)) from None

    async def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def serve_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHONNGHE_")}
    env.update({"CHONNGHE_HTTP_PORT": "0", "CHONNGHE_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
                "CHONNGHE_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT), **extra})
    return env


async def healthz(port: int) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as resp:
        assert resp.status == 200
        return await resp.json()


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        yield server


async def test_serve_answers_the_conversation_in_vietnamese(tmp_path, fake):
    env = serve_env(tmp_path, CHONNGHE_TELEGRAM_TOKEN="123:ABC", CHONNGHE_TELEGRAM_API_URL=fake.base_url)
    async with Serve(env, "--content", content_for_serve()) as serve:
        health = await healthz(await serve.port())
        assert health["channels"]["telegram"] == "on"

        async def say(text: str, expect: int = 1):
            before = len(fake.messages_to(USER))
            fake.push_message(USER, text, first_name="Minh")
            return await fake.wait_messages(USER, expect, after=before, within=15)

        welcome, who = await say("/start", expect=2)
        assert "Thực học - Thực hành - Vững khởi nghiệp, sáng tương lai" in welcome.text
        assert who.text == "Bạn là ai?" and len(who.buttons) == 6

        (answer,) = await say("Học nghề có được miễn học phí không?")
        assert VIETNAMESE.search(answer.text)
        assert any(p.startswith("fb:") for p in answer.payloads) or "chưa có câu trả lời" in answer.text

        (subscribed,) = await say("/dangky tuyen_sinh")
        assert "Đã đăng ký nhận «" in subscribed.text and "/huy tuyen_sinh" in subscribed.text
        (listing,) = await say("/chude")
        assert "Bạn đang nhận tin các chủ đề" in listing.text and "(tuyen_sinh)" in listing.text
        (gone,) = await say("/huy tatca")
        assert "Đã hủy nhận tất cả chủ đề" in gone.text
        (shown,) = await say("/xoadulieu")
        assert "Thông tin bot đang lưu về bạn" in shown.text and "Minh" in shown.text
        before = len(fake.messages_to(USER))
        fake.push_callback(USER, shown.payload_of("Xóa hết"), message_id=shown.message_id)
        (deleted,) = await fake.wait_messages(USER, 1, after=before, within=15)
        assert "Đã xóa toàn bộ dữ liệu" in deleted.text

        assert all(VIETNAMESE.search(m.text) for m in fake.messages_to(USER))
        assert await serve.terminate() == 0
    assert any("stopped cleanly" in line for line in serve.log)


async def test_serve_without_a_token_still_serves_and_says_why(tmp_path):
    async with Serve(serve_env(tmp_path), "--content", str(FIXTURE_CONTENT)) as serve:
        health = await healthz(await serve.port())
        assert health["status"] == "ok"
        assert health["channels"]["telegram"].startswith("off: CHONNGHE_TELEGRAM_TOKEN is not set")
        assert await serve.terminate() == 0
    assert any("channel telegram is off: CHONNGHE_TELEGRAM_TOKEN is not set" in line for line in serve.log)


async def test_sighup_reloads_the_content_while_the_bot_keeps_answering(tmp_path, fake):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, content)
    env = serve_env(tmp_path, CHONNGHE_TELEGRAM_TOKEN="123:ABC", CHONNGHE_TELEGRAM_API_URL=fake.base_url,
                    CHONNGHE_CACHE_DIR=str(tmp_path / "cache"))
    async with Serve(env, "--content", str(content)) as serve:
        port = await serve.port()
        fake.push_message(USER, "hoc phi hoc nghe")
        (before,) = await fake.wait_messages(USER, 1, within=15)
        assert "Câu trả lời thử về học phí" in before.text
        faq = content / "faq" / "test.yaml"
        faq.write_text(faq.read_text(encoding="utf-8").replace(
            "Câu trả lời thử về học phí học nghề", "Câu trả lời mới về học phí học nghề"), encoding="utf-8")
        assert serve.proc is not None
        serve.proc.send_signal(signal.SIGHUP)
        # The reload runs off the event loop: the service answers while it refits.
        health = await healthz(port)
        assert health["status"] == "ok", health
        async with asyncio.timeout(30):
            while not any("content reloaded" in line for line in serve.log):  # noqa: ASYNC110 - its log
                await asyncio.sleep(0.05)
        fake.push_message(USER, "hoc phi hoc nghe")
        (after,) = await fake.wait_messages(USER, 1, after=1, within=15)
        assert "Câu trả lời mới về học phí" in after.text
        assert await serve.terminate() == 0
