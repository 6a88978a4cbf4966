"""`chonnghe chat`: talk to the bot in a terminal, through the same handlers as every channel (channel "cli").

Buttons are shown as numbered options; typing the number presses the button (links are printed). The
conversation is kept in the configured database under the user id given with --user (default "local"),
or in a throwaway database with --memory. Messages the bot would send to someone else (the staff chat
of a counsellor handoff) are printed with their destination.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.cli.common import add_content_option, content_or_exit, settings_or_exit
from bot.types import Button, Incoming, Reply, UserRef

CHANNEL = "cli"
QUIT = {"/thoat", "/quit", "/exit", "thoat"}

ReadLine = Callable[[], Awaitable[str | None]]
Write = Callable[[str], None]


def register(sub: argparse._SubParsersAction) -> None:
    """Add `chat` to the command parser."""
    parser = sub.add_parser("chat", help="trò chuyện với bot ngay trong cửa sổ dòng lệnh")
    add_content_option(parser)
    parser.add_argument(
        "--user", default="local", help="user id of this terminal conversation (default: local)"
    )
    parser.add_argument("--name", default=None, help="display name (default: none)")
    parser.add_argument(
        "--memory", action="store_true", help="use a throwaway database instead of the configured one"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Chat in the terminal on standard input and output; returns the exit status."""
    settings = settings_or_exit(args)
    content_or_exit(settings)  # a broken content folder: the report with files and lines, exit 1
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")

    async def read_line() -> str | None:
        line = await asyncio.to_thread(sys.stdin.readline)
        return line.rstrip("\n") if line else None

    def write(text: str) -> None:
        print(text, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        if args.memory:
            settings = settings.model_copy(
                update={"database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'chat.db'}"}
            )
        asyncio.run(chat(settings, read_line, write, user_id=args.user, name=args.name,
                         interactive=sys.stdin.isatty()))
    return 0


class TerminalMessenger:
    """Services.messenger for the terminal: what goes to someone else is printed with where it goes."""

    def __init__(self, write: Write):
        self.write = write
        self._next = 0

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Print a message sent to someone else (staff, say); returns a made-up message id."""
        self._next += 1
        self.write(f"  ↪ [gửi tới {to}] " + reply.text.replace("\n", "\n    "))
        return str(self._next)


def render(replies: list[Reply], write: Write) -> list[Button]:
    """Print replies with their buttons numbered 1..n across all of them; returns the buttons in order."""
    buttons: list[Button] = []
    for reply in replies:
        write("🤖 " + reply.text.replace("\n", "\n   "))
        for row in reply.buttons:
            cells = []
            for button in row:
                buttons.append(button)
                cell = f"[{len(buttons)}] {button.label}"
                if button.url:
                    cell += f" ({button.url})"
                cells.append(cell)
            write("   " + "   ".join(cells))
    return buttons


async def chat(
    settings,
    read_line: ReadLine,
    write: Write,
    *,
    user_id: str = "local",
    name: str | None = None,
    holder=None,
    interactive: bool = False,
) -> None:
    """The terminal conversation loop; `holder` replaces the content holder (tests)."""
    from bot.clock import SystemClock
    from bot.content.holder import ContentHolder
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store
    from handlers import build_handler
    from handlers.services import Services

    holder = holder or ContentHolder(settings.content_dir)
    engine = create_engine(settings.database_url)
    await migrate(engine)
    store = Store(engine)
    services = Services(settings=settings, store=store, content=holder, clock=SystemClock(),
                        messenger=TerminalMessenger(write))
    handle = build_handler(services)
    ref = UserRef(CHANNEL, user_id)
    write("Trò chuyện với bot chọn nghề (gõ số để bấm nút, /thoat để thoát). Gõ /start để bắt đầu.")
    buttons: list[Button] = []
    try:
        while True:
            if interactive:
                sys.stdout.write("> ")
                sys.stdout.flush()
            line = await read_line()
            if line is None:
                break
            text = line.strip()
            if text.lower() in QUIT:
                break
            if not text:
                continue
            incoming = Incoming(ref, text=line, chat_id=user_id, display_name=name)
            if text.isdigit() and 1 <= int(text) <= len(buttons):
                button = buttons[int(text) - 1]
                if button.url:
                    write(f"🔗 {button.label}: {button.url}")
                    continue
                incoming = Incoming(ref, payload=button.payload, chat_id=user_id, display_name=name)
            try:
                replies = await handle(incoming)
            except Exception as exc:  # keep the terminal session alive; show what broke
                logging.getLogger(__name__).exception("handler failed")
                write(f"(lỗi: {exc})")
                continue
            buttons = render(replies, write)
    finally:
        await store.flush()
        await engine.dispose()
