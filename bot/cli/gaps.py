"""`chonnghe gaps [--since DATE]`: the unanswered-questions report (declined and 👎, grouped by wording)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime

from bot.cli.common import add_content_option, content_or_exit, settings_or_exit


def register(sub: argparse._SubParsersAction) -> None:
    """Add `chonnghe gaps` to the command line."""
    parser = sub.add_parser("gaps", help="declined questions and 👎 answers, grouped by similar wording")
    parser.add_argument("--since", metavar="DATE", type=date.fromisoformat,
                        help="only questions asked on or after DATE (YYYY-MM-DD, UTC); default: all")
    parser.add_argument("--limit", type=int, default=50, help="groups to print (default 50)")
    add_content_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the unanswered-questions report from the database, grouped against the current content."""
    settings = settings_or_exit(args)

    async def main() -> int:
        from bot.engine import AnswerEngine
        from bot.gaps import to_text, unanswered_report
        from bot.storage.db import create_engine, migrate

        base = content_or_exit(settings)
        engine = AnswerEngine.for_content(base)
        db = create_engine(settings.database_url)
        try:
            await migrate(db)
            since = (datetime(args.since.year, args.since.month, args.since.day, tzinfo=UTC)
                     if args.since else None)
            groups = await unanswered_report(db, since, engine)
        finally:
            await db.dispose()
        sys.stdout.write(to_text(groups, limit=args.limit))
        return 0

    return asyncio.run(main())
