"""The console's main paths over real HTTP, against the services the CLI uses: a broadcast composed and
sent to people subscribed through a fake Telegram, a calendar draft approved, a counselling case answered
(the reply reaches the person; the staff chat and the console agree it is answered), a declined question
attached to an entry (the bot answers it next time; the YAML still passes the content check), the report."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import pytest

from bot.content import format_report, load_content
from tests.conftest import BACKENDS
from tests.console.conftest import STAFF_CHAT

PEOPLE = (700_201, 700_202, 700_203)


async def subscribe(telegram, users=PEOPLE, topic: str = "tuyen_sinh") -> None:
    for user in users:
        telegram.push_message(user, f"/dangky {topic}")
    for user in users:
        (reply,) = await telegram.wait_messages(user, 1, within=20)
        assert "Đã đăng ký nhận «" in reply.text, reply.text


async def until_done(client, bid: int, within: float = 30.0) -> str:
    async with asyncio.timeout(within):
        while True:
            _, fragment, _ = await client.get(
                f"/console/broadcasts/{bid}/progress", headers={"HX-Request": "true"}
            )
            if 'data-status="done"' in fragment:
                return fragment
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_an_editor_composes_and_sends_a_broadcast_and_exports_it(console_bot, client):
    await subscribe(console_bot.telegram)
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    status, page, _ = await client.get("/console/broadcasts/new")
    assert status == 200 and "Bước 1" in page and "Bước 3" in page and "hx-post" in page

    text = "Ngày hội tư vấn tuyển sinh E2E-CONSOLE"
    status, preview, _ = await client.post("/console/broadcasts/preview", {"text": text},
                                           headers={"HX-Request": "true"})
    assert status == 200 and "Telegram" in preview and "Zalo OA" in preview and "Ngừng nhận tin" in preview
    status, long, _ = await client.post("/console/broadcasts/preview", {"text": "a" * 4100})
    assert "tối đa 4000 ký tự" in long

    status, count, _ = await client.post("/console/broadcasts/audience", {"topic": "tuyen_sinh"})
    assert 'data-count="3"' in count and "Telegram: 3" in count
    status, nobody, _ = await client.post("/console/broadcasts/audience", {"topic": "su_kien"})
    assert 'data-count="0"' in nobody and "Không có ai" in nobody
    status, refused, _ = await client.post(
        "/console/broadcasts", {"text": text, "topic": "su_kien", "when": "now"}
    )
    assert status == 400 and "Không có ai đăng ký" in refused

    status, page, r = await client.post(
        "/console/broadcasts", {"text": text, "topic": "tuyen_sinh", "when": "now"}
    )
    assert status == 200 and "Đã tạo tin gửi" in page
    bid = int(re.search(r"/console/broadcasts/(\d+)", str(r.url)).group(1))
    done = await until_done(client, bid)
    assert "đã gửi xong" in done and "hx-trigger" not in done  # the polling stops once done
    for user in PEOPLE:
        assert [m for m in console_bot.telegram.messages_to(user) if text in m.text]

    status, body, r = await client.get(f"/console/broadcasts/{bid}/export.csv")
    assert status == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:5] == ["delivery_id", "channel", "platform_id", "user_id", "status"]
    assert sorted(row[2] for row in rows[1:]) == sorted(str(u) for u in PEOPLE)
    assert {row[4] for row in rows[1:]} == {"sent"}


async def test_edit_while_scheduled_then_cancel(console_bot, client):
    await subscribe(console_bot.telegram, PEOPLE[:1])
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    _, _, r = await client.post(
        "/console/broadcasts",
        {"text": "Bản đầu", "topic": "tuyen_sinh", "when": "later", "at": "2031-10-02 09:00"},
    )
    bid = int(str(r.url).rsplit("/", 1)[1].split("?")[0])
    status, page, _ = await client.post(f"/console/broadcasts/{bid}/edit",
                                        {"text": "Bản đã sửa", "topic": "tuyen_sinh", "when": "later",
                                         "at": "2031-10-03 10:00"})
    assert status == 200 and "Đã lưu thay đổi" in page and "Bản đã sửa" in page and "2031-10-03 10:00" in page
    status, refused, _ = await client.post(f"/console/broadcasts/{bid}/edit",
                                           {"text": "x", "topic": "tuyen_sinh", "when": "later",
                                            "at": "2020-10-03 10:00"})
    assert status == 400 and "đã qua" in refused
    status, page, _ = await client.post(f"/console/broadcasts/{bid}/cancel")
    assert status == 200 and "Đã hủy tin" in page
    assert (await console_bot.app.services.broadcasts.get(bid)).status == "cancelled"


async def test_an_editor_approves_a_calendar_draft(console_bot, client):
    await subscribe(console_bot.telegram, PEOPLE[:1])
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    b = console_bot.app.services.broadcasts
    await client.post("/console/calendar/sync")
    drafts = [row for row in await b.bstore.list(["draft"]) if row.campaign_key
              and "tuyen_sinh" in row.topics and row.send_at is not None]
    assert drafts, "the shipped calendar has dated tuyen_sinh drafts"
    draft = drafts[0]
    year = draft.campaign_key.rsplit(":", 1)[1]  # this year's or, late in the year, next year's drafts
    status, page, _ = await client.get(f"/console/calendar?year={year}")
    assert status == 200 and f"Lịch chiến dịch năm {year}" in page
    assert f'/console/broadcasts/{draft.id}/approve' in page
    status, page, r = await client.post(f"/console/broadcasts/{draft.id}/approve",
                                        {"back": f"/calendar?year={year}"})
    assert status == 200 and "Đã duyệt" in page and "/console/calendar?year=" in str(r.url)
    assert (await b.get(draft.id)).status == "scheduled"


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_a_counsellor_answers_a_case_and_the_reply_reaches_the_person(console_bot, client):
    telegram = console_bot.telegram
    person = 700_301
    telegram.push_message(person, "/tuvan Em muốn hỏi về học nghề hàn buổi tối")
    (card,) = await telegram.wait_messages(STAFF_CHAT, 1, within=20)
    case_id = int(re.search(r"#(\d+)", card.text).group(1))
    await telegram.wait_messages(person, 1, within=10)
    await console_bot.account("tu-van", "counsellor")
    await client.login("tu-van")
    status, inbox, _ = await client.get("/console/cases")
    assert status == 200 and "học nghề hàn buổi tối" in inbox and "chưa trả lời" in inbox
    status, page, _ = await client.post(f"/console/cases/{case_id}/claim")
    assert "Bạn đã nhận yêu cầu này" in page and "người xử lý: tu-van" in page

    answer = "Chào em, trường có lớp hàn buổi tối, em liên hệ phòng tuyển sinh nhé."
    before = len(telegram.messages_to(person))
    status, page, _ = await client.post(f"/console/cases/{case_id}/reply", {"text": answer})
    assert status == 200 and "Đã gửi câu trả lời" in page and "đã trả lời" in page
    (reply,) = await telegram.wait_messages(person, 1, after=before, within=10)
    assert answer in reply.text and "Tư vấn viên trả lời" in reply.text
    notes = await telegram.wait_messages(STAFF_CHAT, 1, after=1, within=10)
    assert any("đã được tu-van trả lời trên bảng điều khiển" in n.text for n in notes)

    # answered from the staff chat instead: the console shows it answered too
    case = await console_bot.app.store.cases.get(case_id)
    assert case.answered_by == "console:tu-van"
    telegram.push_message(
        900_001, "Bổ sung: lớp học từ 18h", chat_id=int(STAFF_CHAT), reply_to=card.message_id
    )
    await telegram.wait_messages(person, 1, after=before + 1, within=10)
    for _ in range(50):
        case = await console_bot.app.store.cases.get(case_id)
        if case.answered_by == "telegram:900001":
            break
        await asyncio.sleep(0.1)
    assert case.answered_by == "telegram:900001"

    status, page, _ = await client.post(f"/console/cases/{case_id}/close")
    assert status == 200 and "Đã đóng yêu cầu" in page
    assert (await console_bot.app.store.cases.get(case_id)).status == "closed"
    closing = await telegram.wait_messages(person, 1, after=before + 2, within=10)
    assert any("kết thúc cuộc trao đổi" in m.text for m in closing)


QUESTION = "trường chốt sổ hôm nào vậy ad"  # declined today; tuyensinh.thoi_gian answers it


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_attaching_a_declined_question_makes_the_bot_answer_it(console_bot, client):
    telegram = console_bot.telegram
    person = 700_401
    telegram.push_message(person, "hoc nghe han o dau")
    await telegram.wait_messages(person, 1, within=20)
    telegram.push_message(person, QUESTION)
    (declined,) = await telegram.wait_messages(person, 1, after=1, within=20)
    assert "Thời gian tuyển sinh" not in declined.text
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    status, page, _ = await client.get("/console/gaps")
    assert status == 200 and QUESTION in page
    assert "Cuộc trò chuyện quanh câu này" in page and "“hoc nghe han o dau” → nghe.han" in page

    path = console_bot.content / "faq" / "tuyensinh.yaml"
    before = path.read_text(encoding="utf-8")
    status, page, _ = await client.post("/console/gaps/attach", {"question": QUESTION, "text": QUESTION,
                                                                 "entry": "tuyensinh.thoi_gian"})
    assert status == 200 and "Đã ghi câu hỏi" in page and 'data-answer="tuyensinh.thoi_gian"' in page
    after = path.read_text(encoding="utf-8")
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == [f"      - {QUESTION}"]  # one line; every comment and the layout kept
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    base = load_content(console_bot.content)  # what `chonnghe content check` runs
    assert base.ok, format_report(base.problems)

    _, page, _ = await client.get("/console/gaps")
    assert QUESTION not in page  # it left the queue
    sent = len(telegram.messages_to(person))
    telegram.push_message(person, QUESTION)
    (answer,) = await telegram.wait_messages(person, 1, after=sent, within=20)
    assert "tuyển sinh nhiều đợt" in answer.text


async def test_an_attach_that_would_break_the_content_is_refused_and_writes_nothing(console_bot, client):
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    broken = console_bot.content / "faq" / "sukien.yaml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("reviewed:", "reviewd:", 1), encoding="utf-8"
    )
    path = console_bot.content / "faq" / "tuyensinh.yaml"
    before = path.read_text(encoding="utf-8")
    status, page, _ = await client.post(
        "/console/gaps/attach", {"question": QUESTION, "entry": "tuyensinh.thoi_gian"}
    )
    assert status == 400 and "Không ghi" in page and "sukien.yaml" in page
    assert path.read_text(encoding="utf-8") == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no staged file left behind


async def test_content_page_flags_and_try_asking(console_bot, client):
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    status, page, _ = await client.get("/console/content")
    assert status == 200 and "tuyensinh.thoi_gian" in page and "Nguồn" in page
    status, fragment, _ = await client.post("/console/content/try", {"question": "hoc nghe han o dau"})
    assert status == 200 and "nghe.han" in fragment and "Xếp sau" in fragment


async def test_the_report_has_its_charts_and_csv(console_bot, client):
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    status, page, _ = await client.get("/console/report")
    assert status == 200 and page.count("<svg") == 3 and "mục tiêu 180" in page
    status, body, _ = await client.get("/console/report.csv")
    assert status == 200 and "items_sent" in body


async def test_a_question_on_another_subject_is_recorded_and_then_declined(console_bot, client):
    # The bot answers this with the veterans' entry; military call-up is another subject. Staff record
    # it from the unanswered-questions page: it goes into other_subjects.yaml and the bot declines it.
    telegram = console_bot.telegram
    person = 700_402
    question = "đăng ký nghĩa vụ quân sự ở đâu vậy ad"
    telegram.push_message(person, question)
    (first,) = await telegram.wait_messages(person, 1, within=20)
    assert "chưa có câu trả lời chắc chắn" not in first.text
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    path = console_bot.content / "other_subjects.yaml"
    before = path.read_text(encoding="utf-8")
    status, page, _ = await client.post("/console/gaps/other", {"question": question, "text": question})
    assert status == 200 and "Đã ghi là chủ đề khác" in page and "data-declined" in page
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before) and after[len(before):] == f"  - {question}\n"  # comments kept
    assert question in load_content(console_bot.content).others
    sent = len(telegram.messages_to(person))
    telegram.push_message(person, question)
    (again,) = await telegram.wait_messages(person, 1, after=sent, within=20)
    assert "chưa có câu trả lời chắc chắn" in again.text
    # Recorded once: the same question again is refused and the file is left as it is.
    status, page, _ = await client.post("/console/gaps/other", {"question": question})
    assert status == 400 and "đã có trong danh sách chủ đề khác" in page
    assert path.read_text(encoding="utf-8") == after


async def test_a_new_other_subjects_file_is_created_with_what_it_is_for(console_bot, client):
    (console_bot.content / "other_subjects.yaml").unlink()
    await console_bot.account("bien-tap", "editor")
    await client.login("bien-tap")
    status, page, _ = await client.post("/console/gaps/other", {"question": "giá vàng hôm nay"})
    assert status == 200 and "Đã ghi là chủ đề khác" in page
    text = (console_bot.content / "other_subjects.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Câu hỏi về chủ đề khác") and text.endswith("questions:\n  - giá vàng hôm nay\n")
