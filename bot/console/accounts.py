"""Staff console accounts: argon2 password hashes, one-time passwords, sign-in with lockout.

Shared by `chonnghe staff ...` (bot/cli/staff.py) and the console's sign-in page. Lockout: 5 wrong
passwords for an account within 15 minutes lock it for 15 minutes; an address with many failures over
any accounts is slowed (each attempt after the 10th waits twice as long as the one before, up to 15
minutes). Failures, locks and sign-ins are rows of the console audit log, which is also what is counted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.storage.models import StaffAccount
from bot.storage.staff import AccountExists

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

ROLES = ("admin", "editor", "counsellor")
ROLE_VI = {"admin": "Quản trị", "editor": "Biên tập", "counsellor": "Tư vấn viên"}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
FAILURES_TO_LOCK = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
ADDRESS_FREE_FAILURES = 10  # failures from one address (any accounts) before it is slowed
ADDRESS_MAX_WAIT = timedelta(minutes=15)

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters (RFC 9106 low-memory)
_DUMMY = _hasher.hash("not a password of anyone")  # verified for unknown names: the same work either way


class AccountError(Exception):
    """A refused account request, with a message for staff in Vietnamese and one in English."""

    def __init__(self, vi: str, en: str):
        super().__init__(en)
        self.vi = vi
        self.en = en


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: `account` when it succeeded, else why not (`reason`:
    "wrong", "locked", "slowed", "disabled") and, for locked/slowed, how long to wait."""

    account: StaffAccount | None
    reason: str = ""
    wait: timedelta | None = None


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def one_time_password() -> str:
    """A random password to hand over once (changed at first sign-in)."""
    return secrets.token_urlsafe(12)


def check_name(name: str) -> str:
    """Return the account name normalised to lower case; AccountError if it is not a valid name."""
    name = (name or "").strip().lower()
    if not NAME_RE.match(name):
        raise AccountError(
            "Tên tài khoản gồm 2-64 chữ thường không dấu, số, dấu chấm, gạch ngang hoặc gạch dưới.",
            "an account name is 2-64 of a-z, 0-9, '.', '-', '_' (starting with a letter or digit)",
        )
    return name


def check_role(role: str) -> str:
    """Return `role` if it is one of ROLES; AccountError otherwise."""
    if role not in ROLES:
        raise AccountError(
            f"Vai trò phải là một trong: {', '.join(ROLES)}.", f"role must be one of {', '.join(ROLES)}"
        )
    return role


def check_password(password: str, name: str = "") -> str:
    """Return `password` if its length is allowed and it is not the account name; AccountError otherwise."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự.", f"a password needs {MIN_PASSWORD}+ characters"
        )
    if len(password) > MAX_PASSWORD:
        raise AccountError(
            f"Mật khẩu dài quá {MAX_PASSWORD} ký tự.", f"a password has at most {MAX_PASSWORD} characters"
        )
    if name and password.lower() == name.lower():
        raise AccountError(
            "Mật khẩu không được trùng tên tài khoản.", "the password must not be the account name"
        )
    return password


class StaffService:
    """Accounts and sign-in, over store.staff and store.console_audit."""

    def __init__(self, store: Store, clock: Clock | None = None):
        self.store = store
        self.clock = clock or store.clock

    async def add(
        self, name: str, role: str, password: str | None = None, *, by: str = "cli"
    ) -> tuple[StaffAccount, str | None]:
        """Create an account. Without `password`, a one-time password is made (returned) that must be
        changed at the first sign-in."""
        name, role = check_name(name), check_role(role)
        once = None
        if password is None:
            once = password = one_time_password()
        else:
            check_password(password, name)
        try:
            hashed = await asyncio.to_thread(hash_password, password)
            row = await self.store.staff.add(name, role, hashed, must_change=once is not None)
        except AccountExists:
            raise AccountError(f"Đã có tài khoản {name}.", f"account {name} exists") from None
        await self.store.console_audit.record(by, "account_add", f"{name} ({role})")
        return row, once

    async def get(self, name: str) -> StaffAccount:
        """Return the account called `name`; AccountError if there is none."""
        row = await self.store.staff.by_name((name or "").strip().lower())
        if row is None:
            raise AccountError(f"Không có tài khoản {name}.", f"no account {name}")
        return row

    async def disable(self, name: str, *, by: str = "cli") -> StaffAccount:
        """Disable an account; its open sessions end at their next request."""
        row = await self.get(name)
        await self.store.staff.update(row.id, disabled=True, version=row.version + 1)
        await self.store.console_audit.record(by, "account_disable", row.name)
        return await self.get(name)

    async def passwd(self, name: str, password: str | None = None, *, by: str = "cli") -> str | None:
        """Set a new password (or, without one, a one-time password, returned); unlocks the account."""
        row = await self.get(name)
        once = None
        if password is None:
            once = password = one_time_password()
        else:
            check_password(password, row.name)
        hashed = await asyncio.to_thread(hash_password, password)
        await self.store.staff.set_password(row.id, hashed, must_change=once is not None)
        await self.store.console_audit.record(
            by, "password_set" if by != row.name else "password_change", row.name
        )
        return once

    async def change_own(self, account: StaffAccount, current: str, new: str) -> None:
        """The signed-in person changes their password (the one-time one at first sign-in)."""
        if not await _averify(account.password_hash, current):
            raise AccountError("Mật khẩu hiện tại không đúng.", "wrong current password")
        check_password(new, account.name)
        if new == current:
            raise AccountError("Mật khẩu mới phải khác mật khẩu cũ.", "the new password must differ")
        await self.passwd(account.name, new, by=account.name)

    async def sign_in(self, name: str, password: str, address: str) -> SignIn:
        """Check a name and password typed at the sign-in page, applying the lockout rules."""
        now = self.clock.now()
        audit = self.store.console_audit
        typed = (name or "").strip().lower()[:64]
        wait = await self._address_wait(address, now)
        if wait is not None:
            await audit.record(typed or "?", "login_slowed", "", address)
            return SignIn(None, "slowed", wait)
        row = await self.store.staff.by_name(typed) if typed else None
        if row is not None and row.locked_until is not None and row.locked_until > now:
            await _averify(row.password_hash, password)
            await audit.record(row.name, "login_locked", "", address)
            return SignIn(None, "locked", row.locked_until - now)
        ok = await _averify(row.password_hash if row is not None else _DUMMY, password) and row is not None
        if not ok:
            await audit.record(typed or "?", "login_failed", "", address)
            if row is not None:
                failures = await audit.count("login_failed", now - FAILURE_WINDOW, actor=row.name)
                if failures >= FAILURES_TO_LOCK:
                    await self.store.staff.update(row.id, locked_until=now + LOCK_FOR)
                    await audit.record(
                        row.name, "locked", f"{failures} wrong passwords in 15 minutes", address
                    )
                    log.warning("console account %s locked after %d wrong passwords", row.name, failures)
            return SignIn(None, "wrong")
        if row.disabled:
            await audit.record(row.name, "login_disabled", "", address)
            return SignIn(None, "disabled")
        if _hasher.check_needs_rehash(row.password_hash):
            await self.store.staff.update(
                row.id, password_hash=await asyncio.to_thread(hash_password, password)
            )
        await self.store.staff.update(row.id, last_login_at=now, locked_until=None)
        await audit.record(row.name, "login", "", address)
        return SignIn(await self.store.staff.get(row.id))

    async def _address_wait(self, address: str, now: datetime) -> timedelta | None:
        """How long `address` must still wait before its next try, or None."""
        if not address:
            return None
        failures = await self.store.console_audit.count("login_failed", now - FAILURE_WINDOW, address=address)
        if failures < ADDRESS_FREE_FAILURES:
            return None
        last = await self.store.console_audit.latest("login_failed", address=address)
        delay = min(ADDRESS_MAX_WAIT, timedelta(seconds=2 ** min(20, failures - ADDRESS_FREE_FAILURES)))
        if last is None or now >= last + delay:
            return None
        return last + delay - now


async def _averify(password_hash: str, password: str) -> bool:
    """`_verify` in a worker thread: argon2 takes tens of milliseconds of CPU (more on a busy machine) and
    releases the GIL, so the event loop keeps serving chats meanwhile."""
    return await asyncio.to_thread(_verify, password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
