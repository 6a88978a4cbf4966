"""`chonnghe staff add NAME --role admin|editor|counsellor [--password-stdin]`, `staff list`,
`staff disable NAME`, `staff passwd NAME [--password-stdin]`: the staff console's accounts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cli.common import settings_or_exit

ROLES = ("admin", "editor", "counsellor")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `staff` command and its actions (add, list, disable, passwd) to the CLI."""
    parser = sub.add_parser("staff", help="staff console accounts (/console)")
    ssub = parser.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = ssub.add_parser(
        "add", help="create an account (prints a one-time password unless --password-stdin)"
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=lambda a: _run(_add, a))
    lst = ssub.add_parser("list", help="every account with its role and state")
    lst.set_defaults(func=lambda a: _run(_list, a))
    disable = ssub.add_parser("disable", help="disable an account (its sessions end)")
    disable.add_argument("name")
    disable.set_defaults(func=lambda a: _run(_disable, a))
    passwd = ssub.add_parser("passwd", help="set a new password (one-time unless --password-stdin); unlocks")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd.set_defaults(func=lambda a: _run(_passwd, a))


def _run(action: Callable[[Any, argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    from bot.console.accounts import AccountError, StaffService
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store

    settings = settings_or_exit(args)

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine)
            return await action(StaffService(Store(engine)), args)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except AccountError as exc:
        print(f"chonnghe: {exc.vi}\n          ({exc.en})", file=sys.stderr)
        return 1


def _stdin_password() -> str:
    # The first line: `printf '%s\n' "$PW" | chonnghe staff add ...` and a here-string both work.
    return sys.stdin.readline().rstrip("\r\n")


async def _add(service: Any, args: argparse.Namespace) -> int:
    password = _stdin_password() if args.password_stdin else None
    row, once = await service.add(args.name, args.role, password)
    print(f"account {row.name} created ({row.role})", file=sys.stderr)
    if once is not None:
        print(f"one-time password (to be changed at the first sign-in at /console): {once}")
    return 0


async def _list(service: Any, _args: argparse.Namespace) -> int:
    rows = await service.store.staff.all()
    if not rows:
        print("no accounts (chonnghe staff add NAME --role admin)")
        return 0
    print(f"{'name':<24} {'role':<11} {'state':<22} last sign-in")
    now = service.clock.now()
    for row in rows:
        state = (
            "disabled"
            if row.disabled
            else ("locked" if row.locked_until and row.locked_until > now else "active")
        )
        if row.must_change and not row.disabled:
            state += ", one-time password"
        last = row.last_login_at.isoformat(timespec="minutes") if row.last_login_at else "-"
        print(f"{row.name:<24} {row.role:<11} {state:<22} {last}")
    return 0


async def _disable(service: Any, args: argparse.Namespace) -> int:
    row = await service.disable(args.name)
    print(f"account {row.name} disabled")
    return 0


async def _passwd(service: Any, args: argparse.Namespace) -> int:
    password = _stdin_password() if args.password_stdin else None
    once = await service.passwd(args.name, password)
    print(f"password of {args.name.strip().lower()} changed", file=sys.stderr)
    if once is not None:
        print(f"one-time password (to be changed at the next sign-in): {once}")
    return 0
