"""`chonnghe chat`: the terminal conversation runs the same handlers, buttons become typed numbers."""

from __future__ import annotations

import subprocess
import sys

from bot.cli.chat import chat
from tests.conftest import ROOT
from tests.fakes import FIXTURE_CONTENT


async def run_chat(settings, holder, lines: list[str]) -> str:
    feed = iter(lines)
    out: list[str] = []

    async def read_line():
        return next(feed, None)

    await chat(settings, read_line, out.append, user_id="t1", name="Bạn CLI", holder=holder)
    return "\n".join(out)


async def test_numbered_buttons_and_a_question(hsettings, holder, store):
    text = await run_chat(
        hsettings,
        holder,
        [
            "/start",
            "2",
            "2",
            "học phí học nghề bao nhiêu",
            "/dangky viec_lam",
            "/tuvan cho em hỏi",
            "/thoat",
            "never read",
        ],
    )
    assert "Bạn là ai?" in text and "[2] Học sinh THPT" in text
    assert "Bạn bao nhiêu tuổi?" in text and "[1] ❓ Hỏi đáp" in text
    assert "Câu trả lời thử về học phí" in text and "Hữu ích 👍" in text
    assert "Đã đăng ký nhận «Việc làm»" in text
    assert "↪ [gửi tới telegram:-100500] 📩 Yêu cầu tư vấn #1" in text
    user = await store.users.by_id(1)
    assert (user.channel, user.platform_id, user.role) == ("cli", "t1", "hs_thpt")


async def test_links_are_printed_and_numbers_out_of_range_are_text(hsettings, holder):
    text = await run_chat(hsettings, holder, ["/menu", "3", "1", "1", "3", "99"])
    assert "[1] Hải Phòng" in text
    assert "Trường ở Hải Phòng" in text
    assert "🔗 🌐 Trang web của trường: https://example.org/a" in text  # school A's page, button 3
    assert "chưa có câu trả lời chắc chắn" in text  # "99" is no button: a question


def test_chat_command_reads_stdin(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--memory", "--content", str(FIXTURE_CONTENT)],
        input="/trogiup\n/thoat\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Mình có thể" in proc.stdout
