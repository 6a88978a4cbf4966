"""`chonnghe report --year N [--csv PATH]`: the year's communication report, as a text table and CSV."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.common import settings_or_exit


def register(sub: argparse._SubParsersAction) -> None:
    """Add `report` to the command parser."""
    parser = sub.add_parser("report", help="the yearly communication report (broadcasts, reach, questions)")
    parser.add_argument("--year", type=int, help="default: this year")
    parser.add_argument(
        "--csv", metavar="PATH", help="also write the figures as CSV ('-' for standard output only)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the yearly communication report (and write its CSV); returns the exit status."""
    settings = settings_or_exit(args)

    async def main() -> int:
        from bot.cli.broadcast import open_broadcasts
        from scheduler.report import build_report, to_csv, to_text

        async with open_broadcasts(settings) as broadcasts:
            year = args.year or broadcasts.clock.now().astimezone(broadcasts.zone).year
            report = await build_report(broadcasts.bstore, year, broadcasts.zone)
        if args.csv == "-":
            sys.stdout.write(to_csv(report))
            return 0
        sys.stdout.write(to_text(report))
        if args.csv:
            with open(args.csv, "w", encoding="utf-8", newline="") as fh:  # noqa: ASYNC230 - a CLI
                fh.write(to_csv(report))
            print(f"\nCSV: {args.csv}")
        return 0

    return asyncio.run(main())
