"""Settings are read only when asked, validated, and every error names its variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from bot.config import ConfigError, Settings
from tests.conftest import ROOT


def test_defaults_need_no_environment():
    s = Settings.load(_env_file=None)
    assert s.database_url == "sqlite+aiosqlite:///var/chonnghe.db"
    assert str(s.content_dir) == "content"
    assert s.timezone == "Asia/Ho_Chi_Minh"
    assert s.quiet_hours == "21:00-07:00"
    assert s.broadcast_grace == timedelta(hours=6)
    assert s.telegram_enabled is False


def test_environment_is_read(monkeypatch):
    monkeypatch.setenv("CHONNGHE_HTTP_PORT", "9000")
    monkeypatch.setenv("CHONNGHE_STAFF_TELEGRAM_IDS", "11, 22")
    monkeypatch.setenv("CHONNGHE_BROADCAST_GRACE", "90m")
    monkeypatch.setenv("CHONNGHE_LOG_LEVEL", "debug")
    monkeypatch.setenv("CHONNGHE_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    s = Settings.load(_env_file=None)
    assert s.http_port == 9000
    assert s.staff_telegram_ids == [11, 22]
    assert s.broadcast_grace == timedelta(minutes=90)
    assert s.log_level == "DEBUG"
    assert s.database_url == "postgresql+asyncpg://postgres@127.0.0.1/test"


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("CHONNGHE_HTTP_PORT=9100\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Settings.load().http_port == 9100


@pytest.mark.parametrize(("name", "value"), [
    ("CHONNGHE_HTTP_PORT", "eighty"),
    ("CHONNGHE_TIMEZONE", "Mars/Olympus"),
    ("CHONNGHE_QUIET_HOURS", "9pm-7am"),
    ("CHONNGHE_DATABASE_URL", "mysql://x"),
    ("CHONNGHE_TELEGRAM_MODE", "carrier-pigeon"),
    ("CHONNGHE_TELEGRAM_RATE", "5000"),
    ("CHONNGHE_BROADCAST_GRACE", "soon"),
])
def test_bad_value_names_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        Settings.load(_env_file=None)
    assert name in str(info.value)


def test_quiet_hours_can_be_disabled(monkeypatch):
    monkeypatch.setenv("CHONNGHE_QUIET_HOURS", "")
    assert Settings.load(_env_file=None).quiet_hours == ""


# Run in a fresh interpreter: conftest has already imported most modules into this one, so importing
# them here again would run nothing. The child spies on every pydantic-settings class and on os.environ
# before it imports the first project module, then imports every module of the three packages.
_IMPORT_ALL = r"""
import importlib, json, os, pkgutil, sys, traceback

import pydantic_settings

reads = []
_init = pydantic_settings.BaseSettings.__init__
_getitem = os._Environ.__getitem__


def _where():
    return "".join(traceback.format_stack(limit=12)[:-2])


def spy_init(self, *args, **kwargs):
    reads.append("settings object built at import:\n" + _where())
    _init(self, *args, **kwargs)


def spy_getitem(self, key):
    if str(key).startswith("CHONNGHE_"):
        reads.append(f"{key} read at import:\n" + _where())
    return _getitem(self, key)


pydantic_settings.BaseSettings.__init__ = spy_init
os._Environ.__getitem__ = spy_getitem

names = []
for package in ("bot", "handlers", "scheduler"):
    names.append(package)
    root = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")
              if m.name.rsplit(".", 1)[-1] != "__main__"]  # `python -m` entry points run the CLI
for name in names:
    importlib.import_module(name)
held = [f"{name}.{attr}" for name in names for attr, value in vars(sys.modules[name]).items()
        if isinstance(value, pydantic_settings.BaseSettings)]
print(json.dumps({"modules": names, "reads": reads, "held": held}))
"""


def test_importing_modules_reads_no_settings(tmp_path):
    """No module reads settings at import time: a fresh interpreter with no CHONNGHE_* variable and
    no .env imports every module of bot, handlers and scheduler, and nothing builds a Settings
    object or looks up a CHONNGHE_* variable meanwhile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHONNGHE_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", _IMPORT_ALL], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert {"bot.app", "bot.cli.serve", "bot.storage.repo", "handlers.router", "scheduler.service"} <= set(
        result["modules"])
    assert result["reads"] == [], "\n".join(result["reads"])
    assert result["held"] == []


def test_scheduler_job_runs_are_not_logged_at_info():
    import logging

    from bot.cli.common import setup_logging

    executors = logging.getLogger("apscheduler.executors")
    try:
        setup_logging("INFO")
        assert executors.level == logging.WARNING
        assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    finally:
        executors.setLevel(logging.NOTSET)


@pytest.mark.parametrize(("value", "months"), [("12", 12), ("18 months", 18), ("6mo", 6), ("24 tháng", 24)])
def test_lead_retention_in_months(value, months):
    assert Settings.load(_env_file=None, lead_retention=value).lead_retention == months


@pytest.mark.parametrize("value", ["0", "abc", "12d", "500", "-3"])
def test_bad_lead_retention_names_the_variable(value):
    with pytest.raises(ConfigError, match="CHONNGHE_LEAD_RETENTION"):
        Settings.load(_env_file=None, lead_retention=value)


def test_lead_retention_default():
    assert Settings.load(_env_file=None).lead_retention == 12
