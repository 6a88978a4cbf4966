"""Neutral types at the boundary: all a handler sees of a platform (no telegram, aiohttp or Zalo here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Channel(StrEnum):
    """The channels the bot talks on, by their ids."""

    TELEGRAM = "telegram"
    ZALO_OA = "zalo_oa"
    ZALO_BOT = "zalo_bot"
    WEB = "web"
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class UserRef:
    """One person on one channel: (channel, platform user id). Also used for chats (the staff chat)."""

    channel: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Button:
    """A choice under a reply: `payload` comes back as Incoming.payload; `url` opens a link instead."""

    label: str
    payload: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to show. `buttons` are rows of buttons."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()

    @property
    def flat_buttons(self) -> tuple[Button, ...]:
        """Every button, row after row."""
        return tuple(b for row in self.buttons for b in row)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message or button press, already parsed by the channel adapter.

    `text` is what the person typed (empty for a button press); `payload` is the pressed button's
    payload. `chat_id` is where it was said (differs from user_id in a group, e.g. the staff chat);
    `reply_to` is the platform id of the message it answers, when the platform says so.
    """

    user: UserRef
    text: str = ""
    payload: str | None = None
    chat_id: str | None = None
    message_id: str | None = None
    reply_to: str | None = None
    display_name: str | None = None
    event: str = "message"  # "message", "follow" (Zalo OA follow), "unfollow"
    media: bool = False  # a photo, sticker, voice note... (no text): handlers say they read text only
    reply_to_self: bool = False  # it answers one of the bot's own messages (the staff chat's relays)
    # What an adapter noted for its own logs and tests (the Zalo Bot's event name, a numbered choice...);
    # handlers never read it.
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def command(self) -> tuple[str, list[str]] | None:
        """("start", ["args"]) when the text is a /command (a @botname suffix is dropped), else None."""
        text = self.text.strip()
        if not text.startswith("/") or len(text) < 2:
            return None
        head, *args = text.split()
        name = head[1:].split("@", 1)[0].lower()
        return name, args
