"""`chonnghe serve`: the HTTP server, every configured channel and the scheduler."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.cli.common import add_content_option, settings_or_exit, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve` to the command parser."""
    parser = sub.add_parser("serve", help="run the bot: HTTP server, channels and scheduler")
    add_content_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until stopped (SIGTERM, Ctrl-C); exit 1 when the content is broken or the port taken, 3 when
    the database cannot be written or its file went away."""
    from bot.app import CannotStart, Fatal, serve
    from bot.content import ContentError

    settings = settings_or_exit(args)
    setup_logging(settings.log_level, settings)
    try:
        asyncio.run(serve(settings))
    except ContentError as exc:
        print(f"chonnghe: refusing to start, content in {settings.content_dir} has errors:", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return 1
    except CannotStart as exc:
        print(f"chonnghe: refusing to start: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except Fatal as exc:
        print(f"chonnghe: stopped: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except OSError as exc:
        logging.getLogger("bot").error("cannot start: %s", exc)
        return 1
    return 0


EXIT_DATABASE = 3  # the database cannot be used (not writable, its file deleted or replaced)
