"""Black-box, through `chonnghe serve` as a subprocess and the fake Telegram: the interest quiz pressed
through to its result, and a registration for counselling answered as a person would, then found by
`chonnghe leads export` (another subprocess on the same database)."""

from __future__ import annotations

import asyncio
import random
import sys

from bot.content import load_content
from tests.conftest import CONTENT_DIR, ROOT
from tests.fakes.telegram_api import FakeTelegram
from tests.test_serve_telegram import Serve, serve_env

USER = 5151
STAFF_GROUP = "-100900"


async def _serve(tmp_path, fake: FakeTelegram):
    env = serve_env(tmp_path, CHONNGHE_TELEGRAM_TOKEN="123:ABC", CHONNGHE_TELEGRAM_API_URL=fake.base_url,
                    CHONNGHE_STAFF_CHAT_ID=STAFF_GROUP)
    return env, Serve(env, "--content", str(CONTENT_DIR))


class Chat:
    """One person on the fake Telegram: type, or press a button of the bot's last message."""

    def __init__(self, fake: FakeTelegram):
        self.fake = fake

    async def say(self, text: str):
        before = len(self.fake.messages_to(USER))
        self.fake.push_message(USER, text, first_name="Hoa")
        return (await self.fake.wait_messages(USER, 1, after=before, within=15))[-1]

    async def press(self, message, payload: str):
        before = len(self.fake.messages_to(USER))
        self.fake.push_callback(USER, payload, message_id=message.message_id)
        return (await self.fake.wait_messages(USER, 1, after=before, within=15))[-1]


async def test_quiz_pressed_through_to_a_result(tmp_path):
    trades = {t.title for t in load_content(CONTENT_DIR).trades.values()}
    rng = random.Random(11)
    async with FakeTelegram() as fake:
        _env, serve = await _serve(tmp_path, fake)
        async with serve:
            await serve.port()
            chat = Chat(fake)
            message = await chat.say("/tracnghiem")
            answers = 0
            while any(p.startswith("qa:") for p in message.payloads):
                assert answers < 40, message.text
                choice = rng.choice([p for p in message.payloads if p.startswith("qa:")])
                message = await chat.press(message, choice)
                answers += 1
            assert 8 <= answers <= 25
            named = [title for title in trades if title in message.text]
            assert len(named) >= 3, message.text
            assert len(message.buttons) >= 3
            assert "gợi ý" in message.text
            assert await serve.terminate() == 0


async def test_registration_then_export_lists_the_phone(tmp_path):
    async with FakeTelegram() as fake:
        env, serve = await _serve(tmp_path, fake)
        async with serve:
            await serve.port()
            chat = Chat(fake)
            first = await chat.say("/dangkytuvan")
            assert "Họ và tên" in first.text
            phone = await chat.say("Phạm Thu Hoa")
            assert "Số điện thoại" in phone.text
            who = await chat.say("0912345678")
            birth = await chat.press(who, who.payload_of("Học sinh"))
            trade = await chat.say("2007")
            assert "nghề nào" in trade.text
            after_trade = await chat.say("logistics")
            if "chọn trường" in after_trade.text:
                after_trade = await chat.press(after_trade, after_trade.payload_of("Chưa chọn trường"))
            summary = await chat.press(after_trade, after_trade.payload_of("Buổi sáng"))
            assert "0912 345 678" in summary.text and "đồng ý" in summary.text and "12 tháng" in summary.text
            done = await chat.say("đồng ý")
            assert "Đã ghi nhận đăng ký" in done.text
            await fake.wait_messages(STAFF_GROUP, 1, within=15)
            assert "0912 345 678" in fake.messages_to(STAFF_GROUP)[-1].text
            assert await serve.terminate() == 0
        assert birth.text  # the year question came after the button

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "leads", "export", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode("utf-8").splitlines()
    assert lines[0].startswith("id,created_at,full_name,phone")
    assert (len(lines) == 2 and "0912345678" in lines[1] and "Phạm Thu Hoa" in lines[1]
            and "nghe.logistics" in lines[1])
