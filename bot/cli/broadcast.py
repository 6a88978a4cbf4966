"""`chonnghe broadcast ...`: create, list, show, approve, edit, cancel and export broadcasts.

Writes to the same database the server uses; a running `chonnghe serve` picks changes up at its next
poll (a few seconds), no restart needed. Refusals print a clear message and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from bot.cli.common import add_content_option, content_or_exit, settings_or_exit
from bot.config import Settings

CREATED_BY = "cli"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `broadcast` and its actions (create, list, show, approve, edit, cancel, export)."""
    parser = sub.add_parser("broadcast", help="plan and follow broadcasts (tin gửi hàng loạt)")
    bsub = parser.add_subparsers(dest="broadcast_command", required=True, metavar="ACTION")

    create = bsub.add_parser("create", help="schedule a broadcast; prints its id")
    text = create.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the message (Vietnamese, at most 4,000 characters)")
    text.add_argument("--text-file", metavar="PATH", help="read the message from a UTF-8 file")
    create.add_argument("--topic", action="append", required=True, help="subscription topic (repeatable)")
    create.add_argument("--role", action="append", default=[], help="only users with this role (repeatable)")
    create.add_argument("--channel", action="append", default=[], help="only this channel (repeatable)")
    create.add_argument("--at", help='send time in city time, "YYYY-MM-DD HH:MM" (default: now)')
    create.add_argument("--title", help="a short label for lists and reports")
    create.add_argument("--link", action="append", default=[], metavar="LABEL=URL",
                        help="a link button under the message (repeatable)")
    create.add_argument("--promotion", action="store_true",
                        help="a promotion: counts against Zalo OA's per-follower limits (4 a month, 1 a day)")
    _quiet_flag(create)
    add_content_option(create)
    create.set_defaults(func=lambda a: _run(a, _create))

    lst = bsub.add_parser("list", help="upcoming broadcasts (--all: every one)")
    lst.add_argument("--all", action="store_true", help="include finished ones")
    lst.set_defaults(func=lambda a: _run(a, _list))

    show = bsub.add_parser("show", help="status and delivery counts")
    show.add_argument("id", type=int)
    show.add_argument(
        "--json", action="store_true", help='print {"id", "status", "counts", "total", "channels"}'
    )
    show.set_defaults(func=lambda a: _run(a, _show))

    approve = bsub.add_parser("approve", help="approve a draft (e.g. from the campaign calendar)")
    approve.add_argument("id", type=int)
    approve.add_argument("--at", help='set or change the send time, "YYYY-MM-DD HH:MM"')
    _quiet_flag(approve)
    add_content_option(approve)
    approve.set_defaults(func=lambda a: _run(a, _approve))

    edit = bsub.add_parser("edit", help="change a draft or a scheduled broadcast")
    edit.add_argument("id", type=int)
    edit.add_argument("--text")
    edit.add_argument("--text-file", metavar="PATH")
    edit.add_argument("--topic", action="append", help="replace the topics (repeatable)")
    edit.add_argument("--role", action="append", help="replace the roles (repeatable)")
    edit.add_argument("--channel", action="append", help="replace the channels (repeatable)")
    edit.add_argument("--at")
    edit.add_argument("--promotion", action=argparse.BooleanOptionalAction, default=None,
                      help="mark (or with --no-promotion unmark) it as a Zalo OA promotion")
    _quiet_flag(edit)
    add_content_option(edit)
    edit.set_defaults(func=lambda a: _run(a, _edit))

    cancel = bsub.add_parser("cancel", help="cancel a broadcast (the rest of it, if it is being sent)")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(func=lambda a: _run(a, _cancel))

    export = bsub.add_parser("export", help="CSV of every delivery of a broadcast")
    export.add_argument("id", type=int)
    export.add_argument("--output", "-o", metavar="PATH", help="write to a file instead of standard output")
    export.set_defaults(func=lambda a: _run(a, _export))


def _quiet_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--move-out-of-quiet-hours", action="store_true",
                        help="a time inside quiet hours moves to their end (07:00) instead of being refused")


# --- plumbing -----------------------------------------------------------------------------------


@asynccontextmanager
async def open_broadcasts(settings: Settings) -> AsyncIterator[Any]:
    """The broadcast service over the configured database (migrated first), with the content's topics."""
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store
    from scheduler.broadcasts import Broadcasts

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        store = Store(engine)
        base = None

        def topics() -> dict[str, str]:
            nonlocal base
            if base is None:
                base = content_or_exit(settings)  # broken or missing content: its report, exit 1
            return {t.id: t.label for t in base.topics.values()}

        yield Broadcasts(store, settings, topics=topics)
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace, action: Callable[[Any, argparse.Namespace], Awaitable[int]]) -> int:
    from scheduler.broadcasts import BroadcastError

    settings = settings_or_exit(args)

    async def main() -> int:
        async with open_broadcasts(settings) as broadcasts:
            return await action(broadcasts, args)

    try:
        return asyncio.run(main())
    except BroadcastError as exc:
        print(f"chonnghe: {exc.vi}\n          ({exc.en})", file=sys.stderr)
        return 1


def _read_text(args: argparse.Namespace) -> str | None:
    path = getattr(args, "text_file", None)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            from scheduler.broadcasts import BroadcastError

            raise BroadcastError(
                f"Không đọc được tệp {path}: {exc.strerror}.", f"cannot read {path}: {exc}"
            ) from None
    return args.text


def _links(values: list[str]) -> list[dict[str, str]]:
    from scheduler.broadcasts import BroadcastError

    links = []
    for value in values:
        label, _, url = value.partition("=")
        if not label.strip() or not url.strip().startswith(("http://", "https://")):
            raise BroadcastError(f"Nút liên kết phải có dạng 'Nhãn=https://...' (nhận được {value!r}).",
                                 f"--link must be LABEL=https://... (got {value!r})")
        links.append({"label": label.strip(), "url": url.strip()})
    return links


async def _print_plan(broadcasts: Any, row: Any) -> None:
    """Who it will reach per channel, and a warning when Zalo OA's promotion limits leave people out."""
    from scheduler.store import loads

    try:
        plan = await broadcasts.plan(loads(row.topics), loads(row.roles), loads(row.channels),
                                     promotion=row.promotion, at=row.send_at)
    except Exception as exc:  # the broadcast exists already; the plan is advice
        print(f"note: cannot compute the audience now: {exc}", file=sys.stderr)
        return
    reach = sum(plan.reachable.values())
    print(f"reach now: {reach} of {plan.total} (" + ", ".join(
        f"{ch} {plan.reachable[ch]}" + ("" if plan.reachable[ch] == c else f"/{c}")
        for ch, c in sorted(plan.counts.items())) + ")", file=sys.stderr)
    for vi, en in plan.warnings():
        print(f"warning: {vi}\n         ({en})", file=sys.stderr)


def _note_moved(broadcasts: Any, timing: Any) -> None:
    if timing.moved_from is not None:
        print(f"note: {broadcasts.local(timing.moved_from)} is inside quiet hours ({broadcasts.quiet}); "
              f"moved to {broadcasts.local(timing.send_at)}", file=sys.stderr)


# --- actions ------------------------------------------------------------------------------------


async def _create(broadcasts: Any, args: argparse.Namespace) -> int:
    at = broadcasts.parse_when(args.at)
    row, timing = await broadcasts.create(
        _read_text(args),
        args.topic,
        args.role,
        args.channel,
        at,
        move_out_of_quiet=args.move_out_of_quiet_hours,
        created_by=CREATED_BY,
        title=args.title,
        buttons=_links(args.link),
        promotion=args.promotion,
    )
    _note_moved(broadcasts, timing)
    print(row.id)
    print(f"broadcast {row.id} scheduled for {broadcasts.local(row.send_at)} ({broadcasts.zone.key})"
          + (", a Zalo OA promotion" if row.promotion else ""), file=sys.stderr)
    await _print_plan(broadcasts, row)
    return 0


async def _list(broadcasts: Any, args: argparse.Namespace) -> int:
    from scheduler.store import loads

    rows = await (broadcasts.bstore.list(limit=1000) if args.all else broadcasts.upcoming(limit=1000))
    if not rows:
        print("no broadcasts" if args.all else "no upcoming broadcasts")
        return 0
    print(f"{'id':>5}  {'status':<10} {'send at':<16}  {'topics':<22} text")
    for row in rows:
        text = " ".join(row.text.split())
        label = row.title or text
        print(f"{row.id:>5}  {row.status:<10} {broadcasts.local(row.send_at):<16}  "
              f"{','.join(loads(row.topics)):<22} {label[:60]}")
    return 0


async def _show(broadcasts: Any, args: argparse.Namespace) -> int:
    data = await broadcasts.show(args.id)
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(f"broadcast {data['id']}: {data['status']}")
    if data["title"]:
        print(f"title:    {data['title']}")
    print(f"send at:  {data['send_at'] or '-'}   started: {data['started_at'] or '-'}   "
          f"finished: {data['finished_at'] or '-'}")
    audience = ", ".join(data["topics"])
    if data["roles"]:
        audience += f"; roles {', '.join(data['roles'])}"
    if data["channels_filter"]:
        audience += f"; channels {', '.join(data['channels_filter'])}"
    if data["promotion"]:
        audience += "; a Zalo OA promotion"
    print(f"audience: {audience}")
    if data["error"]:
        print(f"note:     {data['error']}")
    print(f"recipients: {data['total']}")
    for status in ("pending", "sending", "sent", "blocked", "failed", "skipped", "unknown"):
        if data["counts"].get(status):
            per_channel = ", ".join(
                f"{ch} {c[status]}" for ch, c in data["channels"].items() if c.get(status)
            )
            print(f"  {status:<8} {data['counts'][status]:>7}   ({per_channel})")
    print("text:")
    print("  " + data["text"].replace("\n", "\n  "))
    return 0


async def _approve(broadcasts: Any, args: argparse.Namespace) -> int:
    row, timing = await broadcasts.approve(
        args.id,
        by=CREATED_BY,
        at=broadcasts.parse_when(args.at) if args.at else None,
        move_out_of_quiet=args.move_out_of_quiet_hours,
    )
    _note_moved(broadcasts, timing)
    print(f"broadcast {row.id} approved: scheduled for {broadcasts.local(row.send_at)}")
    await _print_plan(broadcasts, row)
    return 0


async def _edit(broadcasts: Any, args: argparse.Namespace) -> int:
    text = _read_text(args)
    row = await broadcasts.edit(args.id, text=text, topics=args.topic, roles=args.role, channels=args.channel,
                                at=broadcasts.parse_when(args.at) if args.at else None,
                                move_out_of_quiet=args.move_out_of_quiet_hours, promotion=args.promotion)
    print(f"broadcast {row.id} updated ({row.status}, {broadcasts.local(row.send_at)})")
    if row.status == "scheduled":
        await _print_plan(broadcasts, row)
    return 0


async def _cancel(broadcasts: Any, args: argparse.Namespace) -> int:
    row = await broadcasts.cancel(args.id)
    print(f"broadcast {row.id} cancelled")
    return 0


async def _export(broadcasts: Any, args: argparse.Namespace) -> int:
    rows = broadcasts.export_rows(args.id)
    first = await anext(rows)  # a clear error for an unknown id before a file is created
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: ASYNC230 - a CLI, nothing else runs
    try:
        writer = csv.writer(out)
        writer.writerows(first)
        async for chunk in rows:
            writer.writerows(chunk)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
