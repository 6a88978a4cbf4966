"""Helpers shared by the sub-commands: settings, logging and loading content with a clear report."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from bot.config import ConfigError, Settings
from bot.content import ContentBase, format_report, load_content


def add_content_option(parser: argparse.ArgumentParser) -> None:
    """Add --content DIR, which overrides CHONNGHE_CONTENT_DIR."""
    parser.add_argument(
        "--content", metavar="DIR", help="use another content folder (default: CHONNGHE_CONTENT_DIR)"
    )


def settings_or_exit(args: argparse.Namespace | None = None) -> Settings:
    """The settings (with --content applied), or exit 2 with every bad variable named."""
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"chonnghe: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args is not None and getattr(args, "content", None):
        settings = settings.model_copy(update={"content_dir": Path(args.content)})
    return settings


def setup_logging(level: str, settings: Settings | None = None) -> None:
    """Configure the log; with `settings`, first install the filter that masks their secrets (bot.redact)
    in every record, ours and the libraries'."""
    if settings is not None:
        from bot.redact import install

        install(settings)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings is not None:  # the service: what attackers and bad networks can repeat is rate-limited
        from bot.httpguard import install_repeat_filter

        install_repeat_filter()
    if level != "DEBUG":
        # APScheduler logs every run of every job at INFO: the 2-second broadcast sync would fill the log.
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


def content_or_exit(settings: Settings, today: date | None = None) -> ContentBase:
    """Load content; on errors print the report (file and line) and exit 1."""
    base = load_content(settings.content_dir, today=today)
    if not base.ok:
        print(f"chonnghe: content in {settings.content_dir} has errors:", file=sys.stderr)
        print(format_report(base.problems), file=sys.stderr)
        raise SystemExit(1)
    return base
