"""`chonnghe calendar show [--year N]`: the campaign calendar's messages for a year and their drafts;
`chonnghe calendar sync`: create the missing drafts now (the server also does it daily)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.common import add_content_option, settings_or_exit


def register(sub: argparse._SubParsersAction) -> None:
    """Add `calendar show` and `calendar sync` to the command parser."""
    parser = sub.add_parser("calendar", help="the yearly campaign calendar (content/campaigns.yaml)")
    csub = parser.add_subparsers(dest="calendar_command", required=True, metavar="ACTION")
    show = csub.add_parser("show", help="list what is planned for a year")
    show.add_argument("--year", type=int, help="default: this year")
    add_content_option(show)
    show.set_defaults(func=run_show)
    sync = csub.add_parser("sync", help="create the drafts for the coming twelve months now")
    add_content_option(sync)
    sync.set_defaults(func=run_sync)


def _campaigns(settings):
    from bot.content import format_report, load_content

    base = load_content(settings.content_dir)
    problems = [p for p in base.problems if p.file == "campaigns.yaml" and p.severity == "error"]
    if problems:
        print(f"chonnghe: {settings.content_dir}/campaigns.yaml has errors:", file=sys.stderr)
        print(format_report(problems), file=sys.stderr)
        raise SystemExit(1)
    return base.campaigns


def run_show(args: argparse.Namespace) -> int:
    """Print the campaign calendar of a year and what it has become; returns the exit status."""
    settings = settings_or_exit(args)
    campaigns = _campaigns(settings)
    return asyncio.run(_show(settings, campaigns, args.year))


async def _show(settings, campaigns, year: int | None) -> int:
    from bot.cli.broadcast import open_broadcasts
    from scheduler.calendar import year_plan

    async with open_broadcasts(settings) as broadcasts:
        now = broadcasts.clock.now()
        year = year or now.astimezone(broadcasts.zone).year
        plan = await year_plan(broadcasts.bstore, campaigns, year, broadcasts.zone, now)
        print(f"Lịch chiến dịch năm {year} ({len(plan)} tin; giờ {broadcasts.zone.key})")
        if not plan:
            print("  (content/campaigns.yaml has no campaigns)")
        for item in plan:
            occ, row = item.occurrence, item.row
            when = broadcasts.local(occ.send_at) if occ.send_at else "ngày do cán bộ đặt"
            state = item.state_vi
            if row is not None and row.send_at and row.send_at != occ.send_at:
                state += f" (gửi {broadcasts.local(row.send_at)})"
            print(f"  {when:<18} {occ.campaign.topic:<11} {occ.campaign.name} [{occ.message.id}]: {state}")
    return 0


def run_sync(args: argparse.Namespace) -> int:
    """Create this year's calendar drafts now (as the service does daily); returns the exit status."""
    settings = settings_or_exit(args)
    campaigns = _campaigns(settings)

    async def main() -> int:
        from bot.cli.broadcast import open_broadcasts
        from scheduler.calendar import materialise

        async with open_broadcasts(settings) as broadcasts:
            created = await materialise(broadcasts.bstore, campaigns, broadcasts.zone)
        print(f"{len(created)} new draft(s)" + (f": {', '.join(map(str, created))}" if created else ""))
        return 0

    return asyncio.run(main())
