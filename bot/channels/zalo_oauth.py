"""The Zalo OA token pair: kept in the database (oauth_tokens), refreshed before it expires and when the
API rejects it, never refreshed twice with the same refresh token.

Zalo's OAuth v4 (POST {CHONNGHE_ZALO_OAUTH_URL}/v4/oa/access_token, header `secret_key` = the app secret,
form app_id, grant_type=refresh_token, refresh_token) answers a new access token (valid about 25 hours,
`expires_in` in seconds, as a string) and a NEW refresh token: the old one is single-use, so a refresh
that reaches Zalo twice with the same refresh token loses the pair. Hence:

- the pair lives in the database, seeded from CHONNGHE_ZALO_OA_ACCESS_TOKEN / _REFRESH_TOKEN the first
  time; later pairs are only in the database. An env pair different from the one seeded last (an
  operator who authorised the app again) replaces the stored pair: that is how a dead pair is recovered;
- in one process an asyncio lock serialises refreshes, and a caller whose token was already replaced
  gets the new one instead of refreshing again;
- between processes: on PostgreSQL the row is locked (SELECT ... FOR UPDATE) for the whole refresh, and
  the stored refresh token is re-read under the lock, so a second worker adopts the first one's pair;
  the UPDATE is also a compare-and-swap on the old refresh token. SQLite serves one process.

A refresh token Zalo rejects makes the pair dead: an ERROR in the log, the row marked dead (with the
reason) and `TokenDead` raised, which the channel turns into a paused state visible to staff.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.redact import register
from bot.storage.models import OAuthToken

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
TOKEN_PATH = "/v4/oa/access_token"
SEED_KEY = "zalo_oa.token_seed"  # kv: hash of the env refresh token seeded last (never the token itself)
SEED_LIFETIME = timedelta(hours=1)  # an env access token's age is unknown: trust it for an hour at most
REFRESH_MARGIN = timedelta(minutes=30)  # refresh this long before the access token expires
DEFAULT_LIFETIME = timedelta(hours=25)  # when Zalo's answer has no usable expires_in
RECHECK_DEAD = (
    60.0  # seconds between looks at the database while the pair is dead (another worker may fix it)
)
OAUTH_TIMEOUT = aiohttp.ClientTimeout(total=20)


class TokenDead(Exception):
    """The refresh token was rejected (or cannot be used): a person must authorise the app again."""


class TokenUnavailable(Exception):
    """No token right now (Zalo's OAuth server unreachable, a 5xx): retrying later may work."""


@dataclass
class Pair:
    """An access/refresh token pair and the row version it was read at."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    version: int = 0
    dead: bool = False
    dead_reason: str | None = None


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def _pair(row: Any) -> Pair:
    register(row.access_token, row.refresh_token)  # masked in the log from now on (bot.redact)
    return Pair(row.access_token, row.refresh_token, row.expires_at, row.version, row.dead, row.dead_reason)


def _mark_dead(current: Pair, reason: str, now: datetime) -> sa.Update:
    """The statement that marks the stored pair dead (unless it changed since `current` was read)."""
    T = OAuthToken.__table__
    return (sa.update(T).where(T.c.channel == CHANNEL, T.c.version == current.version)
            .values(dead=True, dead_reason=reason[:200], updated_at=now))


def _rotate(current: Pair, access: str, refresh: str, expires: datetime, now: datetime) -> sa.Update:
    """The statement that stores Zalo's new pair in place of `current` (only if it is still stored)."""
    T = OAuthToken.__table__
    return (sa.update(T).where(T.c.channel == CHANNEL, T.c.refresh_token == current.refresh_token)
            .values(access_token=access, refresh_token=refresh, expires_at=expires,
                    version=current.version + 1, dead=False, dead_reason=None, updated_at=now))


class ZaloTokens:
    """The current pair of the one OA, for `access_token()`; `refresh(stale)` after the API rejected one."""

    def __init__(self, settings: Settings, store: Store, session: Any):
        """`session`: a callable returning the aiohttp ClientSession to use (the channel's)."""
        self.settings = settings
        self.store = store
        self.clock = store.clock
        self._session = session
        self._lock = asyncio.Lock()
        self._load_lock = asyncio.Lock()
        self.pair: Pair | None = None
        self._dead_checked = 0.0
        self.refreshes = 0  # successful refreshes by this process (tests, logs)

    @property
    def dead(self) -> bool:
        """Whether the stored pair was refused by Zalo (staff must authorise the app again)."""
        return self.pair is not None and self.pair.dead

    @property
    def dead_reason(self) -> str | None:
        """What Zalo said when it refused the pair, if it did."""
        return self.pair.dead_reason if self.pair is not None else None

    # --- loading and seeding ---------------------------------------------------------------------

    async def load(self) -> Pair | None:
        """Read the stored pair; seed it from the environment when there is none or the env pair is new.
        Once per process (start-up, or the first send when that comes first)."""
        async with self._load_lock:
            if self.pair is None:
                self.pair = await self._load()
            return self.pair

    async def _load(self) -> Pair | None:
        env_access, env_refresh = self.settings.zalo_oa_access_token, self.settings.zalo_oa_refresh_token
        row = await self._read()
        if env_access and env_refresh:
            seeded = await self.store.kv.get(SEED_KEY)
            fresh_env = seeded != _fingerprint(env_refresh)
            if row is None or (fresh_env and row.refresh_token != env_refresh):
                row = await self._seed(env_access, env_refresh, replacing=row)
            if fresh_env:
                await self.store.kv.set(SEED_KEY, _fingerprint(env_refresh))
        if row is not None and row.dead:
            log.error(
                "zalo_oa: the stored token pair is dead (%s); the channel stays paused until the app is "
                "authorised again (new CHONNGHE_ZALO_OA_ACCESS_TOKEN / _REFRESH_TOKEN, then restart)",
                row.dead_reason,
            )
        return row

    async def _read(self) -> Pair | None:
        async with self.store.session() as s:
            row = await s.get(OAuthToken, CHANNEL)
            return _pair(row) if row is not None else None

    async def _seed(self, access: str, refresh: str, replacing: Pair | None) -> Pair | None:
        """Store the env pair (insert, or replace `replacing` unless another worker changed it meanwhile);
        returns the pair now stored."""
        now = self.clock.now()
        expires = now + SEED_LIFETIME
        T = OAuthToken.__table__
        values = {"access_token": access, "refresh_token": refresh, "expires_at": expires, "dead": False,
                  "dead_reason": None, "updated_at": now}
        try:
            async with self.store.session() as s:
                if replacing is None:
                    s.add(OAuthToken(channel=CHANNEL, version=1, **values))
                else:
                    result = await s.execute(
                        sa.update(T).where(T.c.channel == CHANNEL, T.c.version == replacing.version)
                        .values(version=replacing.version + 1, **values))
                    if result.rowcount != 1:
                        return await self._read()  # another worker changed the pair meanwhile: keep theirs
        except IntegrityError:  # another worker seeded it first
            return await self._read()
        if replacing is None:
            log.info("zalo_oa: token pair seeded from the environment")
            return Pair(access, refresh, expires, 1)
        log.warning("zalo_oa: a new token pair from the environment replaces the stored one")
        return Pair(access, refresh, expires, replacing.version + 1)

    # --- using ---------------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A usable access token, refreshed first when it expires soon (or TokenDead / TokenUnavailable)."""
        pair = self.pair
        if pair is None:
            pair = await self.load()
            if pair is None:
                raise TokenDead("no token pair (set CHONNGHE_ZALO_OA_ACCESS_TOKEN and _REFRESH_TOKEN)")
        if pair.dead:
            pair = await self._recheck_dead()
        if self.clock.now() >= pair.expires_at - REFRESH_MARGIN:
            return await self.refresh(pair.access_token)
        return pair.access_token

    async def _recheck_dead(self) -> Pair:
        """While dead, look at the database now and then: another worker may have a new pair."""
        loop = asyncio.get_running_loop()
        assert self.pair is not None
        if loop.time() - self._dead_checked >= RECHECK_DEAD:
            self._dead_checked = loop.time()
            row = await self._read()
            if row is not None and not row.dead:
                log.info("zalo_oa: a live token pair is in the database again; resuming")
                self.pair = row
                return row
        raise TokenDead(self.pair.dead_reason or "refresh token rejected")

    def due_in(self) -> float | None:
        """Seconds until the pair is due for refresh (negative when due); None when there is nothing to do."""
        if self.pair is None or self.pair.dead:
            return None
        return (self.pair.expires_at - REFRESH_MARGIN - self.clock.now()).total_seconds()

    async def refresh(self, stale: str | None) -> str:
        """Replace the pair whose access token `stale` was refused or is expiring; returns the new access
        token. A caller whose stale token was already replaced (by this process or another) gets the current
        one."""
        async with self._lock:
            pair = self.pair
            if pair is not None and not pair.dead and stale is not None and pair.access_token != stale \
                    and self.clock.now() < pair.expires_at - REFRESH_MARGIN:
                return pair.access_token  # refreshed meanwhile by another caller of this process
            if self.store.engine.dialect.name == "postgresql":
                return await self._refresh_locked_pg(stale)
            return await self._refresh_cas(stale)

    async def _refresh_locked_pg(self, stale: str | None) -> str:
        T = OAuthToken.__table__
        refused: TokenDead | None = None
        async with self.store.engine.connect() as conn, conn.begin():
            row = (await conn.execute(sa.select(T).where(T.c.channel == CHANNEL).with_for_update())).first()
            if row is None:
                raise TokenDead("no token pair stored")
            current = _pair(row)
            adopted = self._adopt(current, stale)
            if adopted is not None:
                return adopted
            try:
                access, refresh, expires = await self._call_zalo(current.refresh_token)
            except TokenDead as exc:
                # Mark the pair dead and let the transaction commit (raising here would roll the mark
                # back, and other workers and the next start would keep using the dead pair).
                await conn.execute(_mark_dead(current, str(exc), self.clock.now()))
                refused = exc
            else:
                result = await conn.execute(_rotate(current, access, refresh, expires, self.clock.now()))
                if result.rowcount != 1:  # cannot happen under the row lock; never lose a fresh pair silently
                    log.error("zalo_oa: the token row changed under its lock")
                self.pair = Pair(access, refresh, expires, current.version + 1)
        if refused is not None:  # committed: now say so and raise
            self._died(current, str(refused))
            raise refused
        return self._refreshed()

    async def _refresh_cas(self, stale: str | None) -> str:
        current = await self._read()
        if current is None:
            raise TokenDead("no token pair stored")
        adopted = self._adopt(current, stale)
        if adopted is not None:
            return adopted
        try:
            access, refresh, expires = await self._call_zalo(current.refresh_token)
        except TokenDead as exc:
            latest = await self._read()
            if latest is not None and latest.refresh_token != current.refresh_token and not latest.dead:
                self.pair = latest  # another writer rotated it first: its pair is the good one
                return latest.access_token
            async with self.store.session() as s:
                await s.execute(_mark_dead(current, str(exc), self.clock.now()))
            self._died(current, str(exc))
            raise
        async with self.store.session() as s:
            result = await s.execute(_rotate(current, access, refresh, expires, self.clock.now()))
            swapped = result.rowcount == 1
        if not swapped:
            log.error("zalo_oa: the stored refresh token changed during a refresh; keeping the newer one")
            latest = await self._read()
            if latest is not None:
                self.pair = latest
                return latest.access_token
        self.pair = Pair(access, refresh, expires, current.version + 1)
        return self._refreshed()

    def _adopt(self, stored: Pair, stale: str | None) -> str | None:
        """The stored access token if newer than what the caller saw (no refresh needed), else None."""
        if stored.dead:
            self.pair = stored
            raise TokenDead(stored.dead_reason or "refresh token rejected")
        mine = self.pair
        newer = mine is None or stored.version > mine.version or stored.refresh_token != mine.refresh_token
        fresh = self.clock.now() < stored.expires_at - REFRESH_MARGIN
        if newer and stale is not None and stored.access_token != stale and fresh:
            self.pair = stored
            return stored.access_token
        return None

    def _refreshed(self) -> str:
        assert self.pair is not None
        self.refreshes += 1
        log.info(
            "zalo_oa: access token refreshed (valid until %s)",
            self.pair.expires_at.isoformat(timespec="minutes"),
        )
        return self.pair.access_token

    def _died(self, pair: Pair, reason: str) -> None:
        pair.dead, pair.dead_reason = True, reason[:200]
        self.pair = pair
        self._dead_checked = asyncio.get_running_loop().time()
        log.error(
            "zalo_oa: the refresh token was rejected (%s). The Zalo OA channel is PAUSED: authorise the app "
            "again in the Zalo developer console, put the new pair in CHONNGHE_ZALO_OA_ACCESS_TOKEN and "
            "CHONNGHE_ZALO_OA_REFRESH_TOKEN and restart (see docs/zalo_oa.md)",
            reason,
        )

    async def _call_zalo(self, refresh_token: str) -> tuple[str, str, datetime]:
        """One refresh at Zalo: (access token, refresh token, expiry). TokenDead when Zalo refuses it."""
        secret = self.settings.zalo_oa_app_secret
        if not secret:
            raise TokenDead("CHONNGHE_ZALO_OA_APP_SECRET is not set, so the token cannot be refreshed")
        url = self.settings.zalo_oauth_url.rstrip("/") + TOKEN_PATH
        form = {"app_id": self.settings.zalo_oa_app_id or "", "grant_type": "refresh_token",
                "refresh_token": refresh_token}
        try:
            async with self._session().post(url, data=form, headers={"secret_key": secret},
                                             timeout=OAUTH_TIMEOUT) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TokenUnavailable(f"Zalo OAuth unreachable: {exc!r}") from exc
        if status >= 500 or status == 429:
            raise TokenUnavailable(f"Zalo OAuth answered HTTP {status}")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise TokenUnavailable(f"Zalo OAuth answered HTTP {status} without JSON") from exc
        access = data.get("access_token") if isinstance(data, dict) else None
        refresh = data.get("refresh_token") if isinstance(data, dict) else None
        register(access, refresh)  # before anything logs them (the oauth_tokens write at DEBUG)
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            detail = (
                data
                if not isinstance(data, dict)
                else {
                    k: data[k]
                    for k in ("error", "error_name", "error_reason", "error_description", "message")
                    if k in data
                }
            )
            raise TokenDead(f"Zalo refused the refresh token: {json.dumps(detail, ensure_ascii=False)[:150]}")
        try:
            lifetime = timedelta(seconds=int(data.get("expires_in")))
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        return access, refresh, self.clock.now() + lifetime


async def stored_pair_exists(store: Store) -> bool:
    """True when the database holds a token pair for the OA (dead or alive): used at start-up, when the
    environment has none, to decide whether the channel is configured."""
    async with store.engine.connect() as conn:
        T = OAuthToken.__table__
        return (await conn.execute(sa.select(T.c.channel).where(T.c.channel == CHANNEL))).first() is not None
