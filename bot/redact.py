"""The log's redaction filter: masks every configured secret value, and values registered later (Zalo OA
tokens as they are refreshed), in every log record, from our code and from libraries.

Why a filter on the values rather than care at each call site: libraries log what they hold.
python-telegram-bot logs its Bot API URL (with the token) at DEBUG, aiohttp's exceptions carry the URL,
SQLAlchemy logs statement parameters (the oauth_tokens writes) at INFO when the level is DEBUG. Masking
the values themselves catches all of them, whatever the wording.

It is installed once per process by `install(settings)` (the CLI's logging set-up) as a log record
factory, so it sees each record as it is made, before any handler (a file, the console, pytest's capture),
and `SecretFilter` is also a plain logging.Filter for handlers of one's own. The message is formatted
with its arguments, masked, and the arguments dropped; exception and stack text are formatted and masked
the same way. Logging is process-wide by nature, hence the one installed instance (`current()`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from bot.config import Settings

MASK = "<redacted>"
MIN_SECRET = 6  # shorter values are not masked: they would blank out ordinary words and numbers

_installed: SecretFilter | None = None
_previous_factory = None


class SecretFilter(logging.Filter):
    """Masks the secret values it knows in a record's message, arguments, exception and stack text."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        """Start with `secrets` (empty and short values are ignored)."""
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *values: str | None) -> None:
        """Mask these values from now on (a new token, a generated secret)."""
        fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET} - set(self._secrets)
        if not fresh:
            return
        with self._lock:
            # Longest first, so that a secret containing another is masked whole.
            self._secrets = tuple(sorted({*self._secrets, *fresh}, key=len, reverse=True))

    def mask(self, text: str) -> str:
        """`text` with every known secret replaced by MASK."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep what there is, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings: tokens (and the Telegram token's secret part), app secret,
    secret key, webhook secrets, OA tokens, the database password."""
    values = [settings.telegram_token, settings.telegram_webhook_secret, settings.zalo_oa_app_secret,
              settings.zalo_oa_secret_key, settings.zalo_oa_access_token, settings.zalo_oa_refresh_token,
              settings.zalo_bot_token, settings.zalo_bot_secret]
    if settings.telegram_token and ":" in settings.telegram_token:
        values.append(settings.telegram_token.split(":", 1)[1])  # the part after the public bot id
    for name in ("console_secret", "console_secret_key", "web_secret", "secret_key"):  # later settings
        values.append(getattr(settings, name, None))
    try:
        values.append(make_url(settings.database_url).password)
    except Exception:
        pass
    return [v for v in values if isinstance(v, str) and v]


def install(settings: Settings | None = None) -> SecretFilter:
    """Install the filter for the whole process (once; a second call adds the settings' secrets) and
    return it."""
    global _installed, _previous_factory
    if _installed is None:
        found = SecretFilter()
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            found.filter(record)
            return record

        _installed, _previous_factory = found, previous
        logging.setLogRecordFactory(factory)
    if settings is not None:
        _installed.add(*secrets_of(settings))
    return _installed


def uninstall() -> None:
    """Remove the filter (tests)."""
    global _installed, _previous_factory
    if _previous_factory is not None:
        logging.setLogRecordFactory(_previous_factory)
    _installed = _previous_factory = None


def register(*values: str | None) -> None:
    """Mask these values from now on, when the filter is installed (adapters call this with tokens they
    receive or generate); harmless otherwise."""
    if _installed is not None:
        _installed.add(*values)


def current() -> SecretFilter | None:
    """The installed filter, or None."""
    return _installed
