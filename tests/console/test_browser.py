"""The console in Chromium, walked as staff would: sign in, compose and send a broadcast to people
subscribed through a fake Telegram and watch it reach done; approve a calendar draft; answer a counselling
case and see the reply arrive; attach an unanswered question and see the bot answer it; open the report and
see its charts. Screenshots (phone and desktop) under var/screenshots/."""

from __future__ import annotations

import asyncio
import re

from tests.console.conftest import PASSWORD, STAFF_CHAT
from tests.console.test_workflows import PEOPLE, QUESTION, subscribe


async def sign_in(browser_pages, bot, name: str, *, phone: bool = False):
    page = await browser_pages.new(phone=phone)
    await page.goto(bot.url + "/console/")
    await page.get_by_label("Tên đăng nhập").fill(name)
    await page.get_by_label("Mật khẩu").fill(PASSWORD)
    await page.get_by_role("button", name="Đăng nhập").click()
    await page.get_by_role("heading", name="Tổng quan").wait_for()
    return page


async def test_compose_and_send_a_broadcast_and_watch_it_reach_done(console_bot, browser_pages):
    await subscribe(console_bot.telegram)
    await console_bot.account("bien-tap", "editor")
    for phone in (False, True):
        page = await sign_in(browser_pages, console_bot, "bien-tap", phone=phone)
        await browser_pages.snap(page, "console-overview")
        await page.get_by_role("navigation", name="Mục chính").get_by_role("link", name="Tin gửi").click()
        await page.get_by_role("link", name="Soạn tin mới").click()
        text = ("Ngày hội tuyển sinh 2026: mời các bạn tới dự "
                f"(trình duyệt {'điện thoại' if phone else 'máy tính'})")
        await page.get_by_label("Nội dung tin").fill(text)
        await page.locator("#preview .phone.telegram .bubble", has_text="Ngày hội tuyển sinh").wait_for()
        assert await page.locator("#preview .phone").count() == 4
        await page.get_by_label("Tuyển sinh").check()
        await page.locator("#audience [data-count='3']").wait_for()
        assert "3 người sẽ nhận" in await page.locator("#audience").inner_text()
        await browser_pages.snap(page, "console-composer")
        await page.get_by_role("button", name="Tạo và lên lịch gửi").click()
        await page.get_by_text("Đã tạo tin gửi.").wait_for()
        await page.locator("#progress[data-status='done']").wait_for(timeout=30_000)  # htmx polls until done
        assert "đã gửi xong" in await page.locator("#progress").inner_text()
        await browser_pages.snap(page, "console-broadcast-done")
        assert browser_pages.page_errors(page) == []
        assert browser_pages.foreign(page, console_bot.url) == []
    for user in PEOPLE:
        assert (
            len([m for m in console_bot.telegram.messages_to(user) if "Ngày hội tuyển sinh 2026" in m.text])
            == 2
        )


async def test_approve_a_calendar_draft(console_bot, browser_pages):
    await subscribe(console_bot.telegram, PEOPLE[:1])
    await console_bot.account("bien-tap", "editor")
    b = console_bot.app.services.broadcasts
    drafts = [row for row in await b.bstore.list(["draft"]) if row.campaign_key and "tuyen_sinh" in row.topics
              and row.send_at is not None]
    draft = drafts[0]
    year = draft.campaign_key.rsplit(":", 1)[1]
    page = await sign_in(browser_pages, console_bot, "bien-tap")
    await page.goto(f"{console_bot.url}/console/calendar?year={year}")
    row = page.locator("tr", has=page.locator(f"a[href='/console/broadcasts/{draft.id}']"))
    await browser_pages.snap(page, "console-calendar")
    await row.get_by_role("button", name="Duyệt").click()
    await page.get_by_text("Đã duyệt").wait_for()
    assert (await b.get(draft.id)).status == "scheduled"
    assert "đã lên lịch" in await page.locator("tr", has=page.locator(
        f"a[href='/console/broadcasts/{draft.id}']")).inner_text()


async def test_answer_a_counselling_case_and_the_reply_arrives(console_bot, browser_pages):
    telegram = console_bot.telegram
    person = 700_501
    telegram.push_message(person, "/tuvan Cho em hỏi học phí nghề điện công nghiệp")
    (card,) = await telegram.wait_messages(STAFF_CHAT, 1, within=20)
    case_id = int(re.search(r"#(\d+)", card.text).group(1))
    await telegram.wait_messages(person, 1, within=10)
    await console_bot.account("tu-van", "counsellor")
    page = await sign_in(browser_pages, console_bot, "tu-van", phone=True)
    await page.get_by_role("link", name="Tư vấn", exact=True).click()
    await page.get_by_role("link", name=re.compile("học phí nghề điện")).click()
    await page.get_by_role("button", name="Nhận xử lý").click()
    await page.get_by_text("Bạn đã nhận yêu cầu này.").wait_for()
    before = len(telegram.messages_to(person))
    await page.get_by_label("Trả lời").fill(
        "Chào em, học phí do từng trường công bố; em xem trang của trường nhé."
    )
    await browser_pages.snap(page, "console-case")
    await page.get_by_role("button", name="Gửi câu trả lời").click()
    await page.get_by_text("Đã gửi câu trả lời tới người hỏi.").wait_for()
    (reply,) = await telegram.wait_messages(person, 1, after=before, within=10)
    assert "học phí do từng trường công bố" in reply.text
    assert (await console_bot.app.store.cases.get(case_id)).answered_by == "console:tu-van"
    assert browser_pages.page_errors(page) == []


async def queued(console_bot, browser_pages, person: int, question: str):
    """`person` asks `question` on Telegram; an editor opens the unanswered-questions page: (page, the
    question's group)."""
    console_bot.telegram.push_message(person, question)
    await console_bot.telegram.wait_messages(person, 1, within=20)
    await console_bot.account("bien-tap", "editor")
    page = await sign_in(browser_pages, console_bot, "bien-tap")
    await page.get_by_role("link", name="Câu hỏi chưa trả lời").click()
    return page, page.locator("li.gap", has=page.get_by_role("heading", name=question))


async def test_attach_an_unanswered_question_and_the_bot_answers_it(console_bot, browser_pages):
    telegram = console_bot.telegram
    person = 700_601
    page, group = await queued(console_bot, browser_pages, person, QUESTION)
    await group.get_by_label("Gắn vào mục").select_option("tuyensinh.thoi_gian")
    await browser_pages.snap(page, "console-gaps")
    await group.get_by_role("button", name="Gắn làm câu hỏi mẫu").click()
    await page.get_by_role("heading", name="Đã gắn câu hỏi").wait_for()
    assert await page.locator("[data-answer='tuyensinh.thoi_gian']").count() == 1
    await browser_pages.snap(page, "console-attached")
    sent = len(telegram.messages_to(person))
    telegram.push_message(person, QUESTION)
    (answer,) = await telegram.wait_messages(person, 1, after=sent, within=20)
    assert "tuyển sinh nhiều đợt" in answer.text


async def test_record_a_question_as_another_subject(console_bot, browser_pages):
    question = "giá vàng hôm nay ở Hải Phòng bao nhiêu"
    page, group = await queued(console_bot, browser_pages, 700_602, question)
    await group.get_by_role("button", name="Chủ đề khác").click()
    await page.get_by_role("heading", name="Đã ghi là chủ đề khác").wait_for()
    assert await page.locator("[data-declined]").count() == 1
    await browser_pages.snap(page, "console-other-subject")
    assert question in (console_bot.content / "other_subjects.yaml").read_text(encoding="utf-8")
    await page.get_by_role("link", name="← Câu hỏi chưa trả lời").click()
    await page.get_by_role("heading", name="Câu hỏi chưa trả lời").wait_for()
    assert await page.get_by_role("heading", name=question).count() == 0  # it left the queue


async def test_the_report_shows_its_charts(console_bot, browser_pages):
    await subscribe(console_bot.telegram)
    b = console_bot.app.services.broadcasts
    row, _ = await b.create("Tin cho báo cáo", ["tuyen_sinh"], created_by="test")
    for _ in range(300):
        if (await b.get(row.id)).status == "done":
            break
        await asyncio.sleep(0.1)
    console_bot.telegram.push_message(PEOPLE[0], "hoc nghe han o dau")
    console_bot.telegram.push_message(PEOPLE[1], QUESTION)
    await console_bot.telegram.wait_messages(PEOPLE[1], 1, after=2, within=20)
    await console_bot.account("bien-tap", "editor")
    for phone in (False, True):
        page = await sign_in(browser_pages, console_bot, "bien-tap", phone=phone)
        await page.get_by_role("link", name="Báo cáo").click()
        await page.get_by_role("heading", name=re.compile("Báo cáo truyền thông năm")).wait_for()
        charts = page.locator("svg.chart")
        assert await charts.count() == 3
        for i in range(3):
            box = await charts.nth(i).bounding_box()
            assert box and box["width"] > 200 and box["height"] > 20
        assert await page.locator("svg.chart rect.s0").count() >= 2  # bars drawn, not only the frame
        assert "Nghề Hàn" in await page.locator("section", has_text="Được hỏi nhiều nhất").inner_text()
        await browser_pages.snap(page, "console-report")
        await charts.nth(1).scroll_into_view_if_needed()
        await browser_pages.snap(page, "console-report-charts")
        await page.emulate_media(media="print")
        assert not await page.locator("header.top").is_visible()  # the print CSS hides the navigation
        await page.emulate_media(media="screen")
        assert browser_pages.page_errors(page) == []
    await page.goto(console_bot.url + "/console/content")
    await page.get_by_label("Câu hỏi thử").fill("hoc nghe han o dau")
    await page.get_by_role("button", name="Hỏi").click()
    await page.locator("#try", has_text="nghe.han").wait_for()
    await browser_pages.snap(page, "console-content")
