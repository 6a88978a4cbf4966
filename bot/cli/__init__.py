"""The `chonnghe` command line. Each sub-command lives in its own module with a `register` function."""

from __future__ import annotations

import argparse
import sys

from bot.cli import ask, broadcast, calendar, chat, content, gaps, leads, report, serve, staff


def build_parser() -> argparse.ArgumentParser:
    """The `chonnghe` argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="chonnghe", description="Chọn nghề – Chọn trường: chatbot hướng nghiệp"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (serve, content, ask, chat, broadcast, calendar, report, gaps, leads, staff):
        module.register(sub)
    return parser



def main(argv: list[str] | None = None) -> int:
    # Vietnamese text on any terminal, whatever the locale.
    """Run the command in `argv` (default: the process's); returns the exit status."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
