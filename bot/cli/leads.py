"""`chonnghe leads list [--limit N]`: the latest registrations for counselling; `chonnghe leads export
[--since DATE] [--school ID] [--output PATH]`: all of them as CSV (a header row, one registration a row, the
phone number in its canonical ten-digit form). Both are written to the audit log: they show personal data."""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import io
import sys
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from bot.cli.common import settings_or_exit
from bot.types import UserRef

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.config import Settings
    from bot.storage.models import Lead

COLUMNS = ("id", "created_at", "full_name", "phone", "who", "birth_year", "grade", "trade_id", "trade",
           "school_id", "call_time", "channel", "anonymised_at")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `chonnghe leads list|export` to the command line."""
    parser = sub.add_parser("leads", help="registrations for counselling (/dangkytuvan): list, export as CSV")
    lsub = parser.add_subparsers(dest="leads_command", required=True, metavar="ACTION")
    show = lsub.add_parser("list", help="the latest registrations, newest first")
    show.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    show.set_defaults(func=run_list)
    export = lsub.add_parser("export", help="registrations as CSV on standard output (or --output)")
    export.add_argument("--since", type=_day, metavar="YYYY-MM-DD",
                        help="created on or after this day (local time)")
    export.add_argument("--school", metavar="ID", help="only those for this school id (truong.…)")
    export.add_argument("--output", metavar="PATH", help="write the CSV to a file instead")
    export.set_defaults(func=run_export)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def actor() -> UserRef:
    """Who the audit log names for a command-line export: the operating-system user."""
    try:
        name = getpass.getuser()
    except Exception:  # no user name in this environment (a container without /etc/passwd entry)
        name = "unknown"
    return UserRef("cli", name[:64])


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Any]:
    """The store over the configured database (migrated first)."""
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        yield Store(engine)
    finally:
        await engine.dispose()


def _trade_titles(settings: Settings) -> dict[str, str]:
    """Trade id -> title from the content (empty when the content does not load: ids are still exported)."""
    from bot.content import load_content

    try:
        base = load_content(settings.content_dir)
    except Exception:
        return {}
    return {tid: t.title for tid, t in base.trades.items()}


def rows_of(leads: list[Lead], zone: Any, titles: dict[str, str]) -> list[list[Any]]:
    """The CSV rows (without the header) of these registrations, times in local time."""
    def local(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""

    return [[lead.id, local(lead.created_at), lead.full_name or "", lead.phone or "", lead.who,
             lead.birth_year or "", lead.grade or "", lead.trade_id or "",
             titles.get(lead.trade_id or "", lead.trade_text or ""), lead.school_id or "", lead.call_time,
             lead.channel, local(lead.anonymised_at)] for lead in leads]


def run_export(args: argparse.Namespace) -> int:
    """Write registrations as CSV (stdout or --output), recording the export in the audit log."""
    settings = settings_or_exit(args)
    zone = settings.zone
    since = datetime.combine(args.since, time(0, 0), tzinfo=zone) if args.since else None
    titles = _trade_titles(settings)

    async def main() -> int:
        async with open_store(settings) as store:
            leads = await store.leads.list(since=since, school=args.school)
            what = f"leads export: {len(leads)}" + (f" since {args.since}" if args.since else "") + (
                f" school {args.school}" if args.school else "")
            await store.audit.record(actor(), what[:64], True)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(rows_of(leads, zone, titles))
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as fh:  # noqa: ASYNC230 - a CLI
                fh.write(out.getvalue())
            print(f"{len(leads)} registration(s) written to {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(out.getvalue())
        return 0

    return asyncio.run(main())


def run_list(args: argparse.Namespace) -> int:
    """Print the latest registrations, newest first, recording the listing in the audit log."""
    settings = settings_or_exit(args)
    zone = settings.zone
    titles = _trade_titles(settings)

    async def main() -> int:
        async with open_store(settings) as store:
            leads = await store.leads.list(limit=max(1, args.limit), newest_first=True)
            total = await store.leads.count()
            await store.audit.record(actor(), f"leads list: {len(leads)}", True)
        print(f"Đăng ký tư vấn: {total} (hiện {len(leads)} mới nhất)")
        for row in rows_of(leads, zone, titles):
            ident, created, name, phone, who, year, grade, _tid, trade, school, call, channel, anon = row
            birth = f"sinh {year}" if year else (f"lớp {grade}" if grade else "")
            shown = "(đã ẩn danh)" if anon else f"{name} {phone}"
            print(f"  #{ident} {created} {shown} · {who} {birth} · {trade or '—'} · {school or '—'} · "
                  f"gọi: {call} · {channel}")
        return 0

    return asyncio.run(main())
