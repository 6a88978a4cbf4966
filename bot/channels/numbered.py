"""Buttons as numbered options, for channels that cannot show buttons (the Zalo Bot API) or enough of them.

A Reply's buttons become a numbered list under its text, then a short prompt ("Bạn trả lời 1, 2 hoặc 3
để chọn."); url buttons are listed as "label: link" without a number (a number cannot open a link).
The channel remembers the last menu it showed in each chat, and when the person answers with just a
number ("2", " 2 ", "2.", "2)"), the Incoming becomes that button's press: payload set, text empty.
A number outside the menu, or no menu, leaves the message as ordinary text.

The last menu per chat is kept in the database (the kv table, through Store.kv) so that a
restart between the bot's question and the person's answer does not turn "2" into a question for the
answer engine. A message sent without options clears the chat's menu: the person answers what they see
last. Menus also expire after MENU_TTL.

Stable API (other channels import it):

    rendered = render(reply)              # Rendered(text, body, block, menu)
    rendered.text                         # body + "\\n\\n" + block: what to send
    menus = MenuMemory(store, "zalo_bot")
    await menus.remember(chat_id, rendered.menu)   # BEFORE sending (an empty Menu clears), so an
                                                   # answer typed right after the message finds it
    incoming = await menus.resolve(incoming)       # on receipt: "2" -> Incoming(payload=..., text="")
    number_of("2.")  -> 2                          # the bare-number parser on its own
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.storage.kv import chat_key
from bot.types import Incoming, Reply

if TYPE_CHECKING:
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

MENU_TTL = timedelta(days=3)  # an answer "2" a week later is more likely a question than a choice
CACHE_SIZE = 10_000  # chats whose menu state is known in memory (saves a write per plain message)

_NUMBER = re.compile(r"^\s*(?:số\s*)?(\d{1,3})\s*[.)]?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Menu:
    """The numbered options shown in one message: option n presses `payloads[n - 1]`."""

    payloads: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.payloads)

    def pick(self, number: int) -> str | None:
        """The payload behind option `number` (1-based), or None when the menu has no such option."""
        return self.payloads[number - 1] if 1 <= number <= len(self.payloads) else None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A reply as plain text. `block` (the numbered list, links and prompt) is empty without buttons;
    a channel that splits long text keeps `block` whole in the last part."""

    body: str
    block: str
    menu: Menu

    @property
    def text(self) -> str:
        """The whole message: the body, then the numbered block after a blank line."""
        if not self.block:
            return self.body
        return f"{self.body.rstrip()}\n\n{self.block}" if self.body.strip() else self.block


def prompt(count: int) -> str:
    """The Vietnamese line under `count` numbered options."""
    if count <= 1:
        return "Bạn trả lời 1 để chọn."
    if count <= 4:
        numbers = ", ".join(str(n) for n in range(1, count))
        return f"Bạn trả lời {numbers} hoặc {count} để chọn."
    return f"Bạn trả lời một số từ 1 đến {count} để chọn."


def render(reply: Reply) -> Rendered:
    """The reply's text with its buttons as a numbered list (payload buttons) and links (url buttons)."""
    lines: list[str] = []
    links: list[str] = []
    payloads: list[str] = []
    for button in reply.flat_buttons:
        if button.url:
            links.append(f"• {button.label}: {button.url}")
        elif button.payload:
            payloads.append(button.payload)
            lines.append(f"{len(payloads)}. {button.label}")
        else:
            log.error("button %r has neither payload nor url: not shown", button.label)
    parts = []
    if lines:
        parts.append("\n".join(lines))
    if links:
        parts.append("\n".join(links))
    if payloads:
        parts.append(prompt(len(payloads)))
    return Rendered(reply.text, "\n".join(parts), Menu(tuple(payloads)))


def number_of(text: str) -> int | None:
    """The number when the text is just a number ("2", " 2 ", "2.", "2)", "số 2"), else None."""
    match = _NUMBER.match(text or "")
    return int(match.group(1)) if match else None


def menu_key(channel: str, chat_id: str) -> str:
    """The kv key of a chat's menu (per-chat state: deleted with the person's data)."""
    return chat_key(channel, chat_id, "menu")


class MenuMemory:
    """The last menu shown in each chat of one channel, persisted in the kv table."""

    def __init__(self, store: Store, channel: str, *, ttl: timedelta = MENU_TTL):
        self.store = store
        self.channel = channel
        self.ttl = ttl
        # chat id -> whether a menu is stored: skips the write that clears a menu that is not there.
        self._has_menu: OrderedDict[str, bool] = OrderedDict()

    def _known(self, chat_id: str, has_menu: bool) -> None:
        self._has_menu[chat_id] = has_menu
        self._has_menu.move_to_end(chat_id)
        while len(self._has_menu) > CACHE_SIZE:
            self._has_menu.popitem(last=False)

    async def remember(self, chat_id: str, menu: Menu) -> None:
        """Keep `menu` as the chat's current one; an empty menu clears it."""
        if not menu:
            if self._has_menu.get(chat_id) is False:
                return
            # Deleted, not blanked: after /xoadulieu the confirmation (no buttons) must leave no row behind.
            await self.store.kv.delete(menu_key(self.channel, chat_id))
            self._known(chat_id, False)
            return
        value = json.dumps({"p": list(menu.payloads), "at": self.store.clock.now().isoformat()},
                           ensure_ascii=False)
        await self.store.kv.set(menu_key(self.channel, chat_id), value)
        self._known(chat_id, True)

    async def recall(self, chat_id: str) -> Menu:
        """The chat's current menu (empty when there is none, or it is older than the TTL)."""
        raw = await self.store.kv.get(menu_key(self.channel, chat_id))
        if not raw:
            self._known(chat_id, False)
            return Menu()
        try:
            data = json.loads(raw)
            at = datetime.fromisoformat(data["at"])
            payloads = tuple(str(p) for p in data["p"])
        except (ValueError, KeyError, TypeError):
            log.warning("%s: unreadable stored menu for a chat, ignored", self.channel)
            return Menu()
        now = self.store.clock.now()
        if at.tzinfo is None and now.tzinfo is not None:
            at = at.replace(tzinfo=now.tzinfo)
        if now - at > self.ttl:
            return Menu()
        return Menu(payloads)

    async def resolve(self, incoming: Incoming) -> Incoming:
        """`incoming` as a button press when its text is the number of an option of the chat's last menu;
        otherwise unchanged. Never raises: a storage error leaves the message as text."""
        if incoming.payload is not None:
            return incoming
        number = number_of(incoming.text)
        if number is None:
            return incoming
        chat_id = incoming.chat_id or incoming.user.user_id
        if self._has_menu.get(chat_id) is False:
            return incoming
        try:
            payload = (await self.recall(chat_id)).pick(number)
        except Exception:
            log.exception("%s: reading the last menu failed; treating the number as text", self.channel)
            return incoming
        if payload is None:
            return incoming
        return dataclasses.replace(incoming, text="", payload=payload,
                                   extra={**incoming.extra, "numbered": str(number)})
