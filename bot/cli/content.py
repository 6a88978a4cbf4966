"""`chonnghe content check`: validate the content base and report each problem with file and line."""

from __future__ import annotations

import argparse

from bot.cli.common import add_content_option, settings_or_exit
from bot.content import format_report, load_content


def register(sub: argparse._SubParsersAction) -> None:
    """Add `content check` to the command parser."""
    parser = sub.add_parser("content", help="work with the content base")
    csub = parser.add_subparsers(dest="content_command", required=True, metavar="ACTION")
    check = csub.add_parser("check", help="validate every content file; exit 1 on errors")
    add_content_option(check)
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Validate the content folder and print a summary; exit 1 when a file is broken."""
    settings = settings_or_exit(args)
    base = load_content(settings.content_dir)
    print(f"content: {settings.content_dir}")
    print(f"entries served: {len(base.entries)} (faq {sum(e.kind == 'faq' for e in base.entries.values())}, "
          f"trades {len(base.trades)}), schools: {len(base.schools)}, topics: {len(base.topics)}, "
          f"expired: {len(base.expired)}, campaigns: {len(base.campaigns)} "
          f"({sum(len(c.messages) for c in base.campaigns)} messages)")
    print(format_report(base.problems))
    return 0 if base.ok else 1
