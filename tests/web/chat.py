"""Playwright helpers for driving the chat page as a person would (shared by the web tests)."""

from __future__ import annotations

from typing import Any

TEXTBOX = "Nhập câu hỏi của bạn"
BOT = "[role=log] [data-from=bot]"
USER = "[role=log] [data-from=user]"


def textbox(page: Any) -> Any:
    return page.get_by_role("textbox", name=TEXTBOX)


async def bot_count(page: Any) -> int:
    return await page.locator(BOT).count()


async def wait_bot(page: Any, more_than: int) -> Any:
    """Wait until the log holds more than `more_than` bot messages and the typing indicator is gone;
    returns the last bot message."""
    await page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n && document.getElementById('typing').hidden",
        arg=[BOT, more_than])
    return page.locator(BOT).last


async def open_chat(page: Any, url: str, *, greeting: bool = True) -> Any:
    """Open the chat page and wait for the greeting of a first visit (two bot messages)."""
    await page.goto(url)
    if greeting:
        await wait_bot(page, 1)
    return page


async def ask(page: Any, text: str) -> Any:
    """Type `text`, press Enter, and return the bot's (last) reply element."""
    before = await bot_count(page)
    box = textbox(page)
    await box.fill(text)
    await box.press("Enter")
    return await wait_bot(page, before)


async def press(page: Any, reply: Any, label: str) -> Any:
    """Press the reply's button labelled `label`; return the bot's next reply."""
    before = await bot_count(page)
    await reply.get_by_role("button", name=label).click()
    return await wait_bot(page, before)
