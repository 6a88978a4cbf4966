"""Settings: every CHONNGHE_* environment variable, validated once at start-up (never at import)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "CHONNGHE_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/chonnghe.db"


class ConfigError(Exception):
    """Raised with a human-readable message naming every bad variable."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def parse_duration(value: object) -> timedelta:
    """Parse "6h", "90m", "30s", "1d" or a number of seconds into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text)
    if not match:
        raise ValueError("expected a duration such as 6h, 90m, 30s or a number of seconds")
    amount = float(match.group(1))
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=amount * unit)


def parse_months(value: object) -> object:
    """Parse a number of months: "12", "12mo", "18 months", "12 tháng" -> 12 (other values are left to the
    field's own validation, which names the variable)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{1,4})\s*(mo|month|months|tháng|thang)?\s*", value.lower())
        if not match:
            raise ValueError("expected a number of months such as 12, 12mo or 18 months")
        return int(match.group(1))
    return value


class Settings(BaseSettings):
    """The service's configuration. Build it with `Settings.load()`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # Core
    database_url: str = DEFAULT_DATABASE_URL
    content_dir: Path = Path("content")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # open HTTP connections in all (bot.httpguard; each open web chat page holds one), under the fd limit
    http_max_connections: int = Field(default=4096, ge=16, le=100_000)
    timezone: str = "Asia/Ho_Chi_Minh"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    public_url: str | None = None

    # Staff
    staff_chat_id: str | None = None
    staff_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    console_idle: timedelta = timedelta(minutes=30)  # the staff console signs out after this inactivity

    # Telegram
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: str | None = None
    telegram_rate: float = Field(default=30.0, gt=0, le=1000)

    # Broadcasts
    quiet_hours: str = "21:00-07:00"
    # Broadcast sends in flight at once per process. A worker takes its next row only once the result of
    # its last is written (so a kill -9 leaves at most this many rows "unknown"), and a round trip plus
    # that write take 20-100 ms (PostgreSQL's commit waits for its disk): 16 could not keep 1,000 msg/s or
    # the web's mailboxes busy, 64 not on PostgreSQL (849 msg/s; 128: 981). A slow channel is paced by the
    # rate limiter all the same (a row counts as in flight only once granted).
    broadcast_concurrency: int = Field(default=128, ge=1, le=512)
    broadcast_grace: timedelta = timedelta(hours=6)
    broadcast_max_attempts: int = Field(default=5, ge=1, le=50)

    # Registrations for counselling: kept this many months, then anonymised (name and phone cleared)
    lead_retention: int = Field(default=12, ge=1, le=120)

    # Zalo Official Account
    zalo_oa_app_id: str | None = None
    zalo_oa_app_secret: str | None = None
    zalo_oa_secret_key: str | None = None
    zalo_oa_access_token: str | None = None
    zalo_oa_refresh_token: str | None = None
    zalo_oa_api_url: str = "https://openapi.zalo.me"
    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_oa_rate: float = Field(default=10.0, gt=0, le=1000)
    zalo_oa_promo_per_month: int = Field(default=4, ge=0)
    zalo_oa_promo_per_day: int = Field(default=1, ge=0)

    # Zalo Bot platform
    zalo_bot_token: str | None = None
    zalo_bot_api_url: str = "https://bot-api.zaloplatforms.com"
    zalo_bot_mode: Literal["polling", "webhook"] = "polling"
    zalo_bot_secret: str | None = None
    zalo_bot_rate: float = Field(default=10.0, gt=0, le=1000)

    # Web chat (the page at /, the widget, bot.channels.web)
    web_enabled: bool = True
    web_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)  # sites that may embed the chat
    web_rate: float = Field(default=1.0, gt=0, le=1000)  # messages per second per visitor ...
    web_burst: int = Field(default=5, ge=1, le=1000)  # ... with this burst
    web_address_rate: float = Field(default=10.0, gt=0, le=100_000)  # per address (a school lab shares one)
    web_address_burst: int = Field(default=30, ge=1, le=100_000)
    web_max_connections: int = Field(default=30, ge=1, le=100_000)  # open chats per address at once
    web_keep_days: int = Field(default=90, ge=1, le=3650)  # mailbox messages older than this are deleted
    web_trust_forwarded: bool = False  # behind a reverse proxy: the address is X-Forwarded-For's last entry

    @field_validator("staff_telegram_ids", mode="before")
    @classmethod
    def _csv_ids(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("web_origins", mode="before")
    @classmethod
    def _csv_origins(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("web_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = []
        for item in value:
            origin = item.strip().rstrip("/")
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\*\.[A-Za-z0-9.-]+", origin):
                raise ValueError(f"{item!r} is not an origin: expected scheme://host[:port] with no path, "
                                 "e.g. https://truong.edu.vn (or https://*.edu.vn)")
            origins.append(origin.lower())
        return origins

    @field_validator("lead_retention", mode="before")
    @classmethod
    def _months(cls, value: object) -> object:
        return parse_months(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("broadcast_grace", "console_idle", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("console_idle")
    @classmethod
    def _idle(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(hours=12):
            raise ValueError("expected between 1m and 12h")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("expected HH:MM-HH:MM (e.g. 21:00-07:00) or empty to disable")
        return value

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        value = value.strip()
        # Accept the plain forms people copy from docs and pick the async driver ourselves,
        # so the event loop never blocks on the database.
        for plain, driver in (
            ("sqlite://", "sqlite+aiosqlite://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
        ):
            if value.startswith(plain):
                return driver + value[len(plain):]
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError("expected a sqlite:// or postgresql:// URL")
        return value

    @field_validator(
        "telegram_api_url", "zalo_oa_api_url", "zalo_oauth_url", "zalo_bot_api_url", "public_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.match(r"https?://", value):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/") if not value.endswith("/bot") else value

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    @property
    def telegram_enabled(self) -> bool:
        """Whether a Telegram token is configured."""
        return bool(self.telegram_token)

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Read the environment (and .env); raise ConfigError naming each bad variable."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                name = ENV_PREFIX + "_".join(str(p) for p in err["loc"][:1]).upper()
                shown = "***" if re.search(r"TOKEN|SECRET", name) else repr(err.get("input"))
                lines.append(f"{name}: {err['msg']} (got {shown})")
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
