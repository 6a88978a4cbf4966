"""Secrets never reach the log: the redacting filter masks every configured secret (tokens, app secret,
secret key, webhook secrets, the database password) and values registered later (Zalo OA tokens as they
are refreshed) in every record, from our code and from libraries, in the message, its arguments and
exception text; and `chonnghe serve` at DEBUG, with python-telegram-bot's "Set Bot API URL" line and
SQLAlchemy's parameters of the oauth_tokens writes, logs none of them."""

from __future__ import annotations

import logging

import pytest

from bot import redact
from bot.config import Settings
from tests.fakes import FIXTURE_CONTENT
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_oa_api import APP_ID, APP_SECRET, OA_SECRET_KEY, FakeZaloOA
from tests.test_serve_telegram import Serve, content_for_serve, serve_env

TG_TOKEN = "8123456789:AAHk3Yq9Zx7Wp2Lm5Nr8Ts1Uv4"
ACCESS = "AT-0-acc3ssT0kenValue9182"
REFRESH = "RT-0-r3freshT0kenValue7364"
TAIL = "-n3wT0kenTail5521"


@pytest.fixture
def installed():
    settings = Settings.load(_env_file=None, content_dir=FIXTURE_CONTENT, telegram_token=TG_TOKEN,
                             telegram_webhook_secret="whs3cret-value-81",
                             zalo_oa_app_secret="appS3cret-value-22", zalo_oa_secret_key="oaK3y-value-33",
                             zalo_oa_access_token=ACCESS, zalo_oa_refresh_token=REFRESH,
                             zalo_bot_token="zb-t0ken-value-44", zalo_bot_secret="zbS3cret-value-55",
                             database_url="postgresql+asyncpg://bot:pgPassw0rd-66@db/chonnghe")
    found = redact.install(settings)
    yield found
    redact.uninstall()


SECRETS = [TG_TOKEN, "whs3cret-value-81", "appS3cret-value-22", "oaK3y-value-33", ACCESS, REFRESH,
           "zb-t0ken-value-44", "zbS3cret-value-55", "pgPassw0rd-66"]


def test_every_configured_secret_is_masked_in_message_args_and_exceptions(installed, caplog):
    caplog.set_level(logging.DEBUG)
    for secret in SECRETS:
        logging.getLogger("telegram.Bot").debug("Set Bot API URL: %s", f"https://api.telegram.org/bot{secret}")
        logging.getLogger("bot.channels.x").warning(f"inline {secret} in the message itself")
        try:
            raise RuntimeError(f"POST https://example.invalid/bot{secret}/getUpdates failed")
        except RuntimeError:
            logging.getLogger("aiohttp.client").exception("request failed")
        logging.getLogger("aiosqlite").debug(
            "executing %s", ("INSERT INTO oauth_tokens ...", (secret, "x", 3))
        )
    text = caplog.text
    assert "Set Bot API URL" in text and "getUpdates failed" in text
    for secret in SECRETS:
        assert secret not in text, secret
    # The secret part of the Telegram token is masked even without the bot id in front.
    logging.getLogger("x").warning("tail %s", TG_TOKEN.split(":", 1)[1])
    assert TG_TOKEN.split(":", 1)[1] not in caplog.text
    assert caplog.text.count(redact.MASK) >= len(SECRETS) * 4


def test_values_registered_later_are_masked(installed, caplog):
    caplog.set_level(logging.DEBUG)
    redact.register("AT-7-fresh-from-zalo-901")
    logging.getLogger("aiosqlite").debug("operation %r completed", ("AT-7-fresh-from-zalo-901",))
    assert "AT-7-fresh-from-zalo-901" not in caplog.text
    redact.register("", None, "ab")  # empty and very short values are ignored (they would mask everything)
    logging.getLogger("x").warning("about abc")
    assert "about abc" in caplog.text


def test_without_install_register_is_harmless():
    redact.register("whatever-value-123")
    assert redact.current() is None


async def test_serve_at_debug_logs_no_secret(tmp_path):
    async with FakeTelegram(token=TG_TOKEN) as tg, FakeZaloOA() as oa:
        oa.access_tokens = {ACCESS: oa.access_tokens.popitem()[1]}
        oa.refresh_token = REFRESH
        oa.token_tail = TAIL
        env = serve_env(tmp_path, CHONNGHE_LOG_LEVEL="DEBUG",
                        CHONNGHE_TELEGRAM_TOKEN=TG_TOKEN, CHONNGHE_TELEGRAM_API_URL=tg.base_url,
                        CHONNGHE_ZALO_OA_APP_ID=APP_ID, CHONNGHE_ZALO_OA_APP_SECRET=APP_SECRET,
                        CHONNGHE_ZALO_OA_SECRET_KEY=OA_SECRET_KEY, CHONNGHE_ZALO_OA_ACCESS_TOKEN=ACCESS,
                        CHONNGHE_ZALO_OA_REFRESH_TOKEN=REFRESH, CHONNGHE_ZALO_OA_API_URL=oa.url,
                        CHONNGHE_ZALO_OAUTH_URL=oa.url)
        async with Serve(env, "--content", content_for_serve()) as serve:
            port = await serve.port()
            tg.push_message(4242, "/chude")
            await tg.wait_messages(4242, 1, within=15)
            url = f"http://127.0.0.1:{port}/zalo/oa/webhook"
            assert (await oa.post_webhook(url, oa.event_text("7351", "/chude")))[0] == 200
            await oa.wait_messages("7351", 1, within=15)
            oa.expire_access_tokens()  # the next send is refused: a refresh writes a new pair
            assert (await oa.post_webhook(url, oa.event_text("7351", "/trogiup")))[0] == 200
            await oa.wait_messages("7351", 1, after=1, within=15)
            assert oa.refreshes == 1
            assert await serve.terminate() == 0
    text = "\n".join(serve.log)
    assert "Set Bot API URL" in text
    assert "INSERT INTO oauth_tokens" in text and "UPDATE oauth_tokens" in text  # the seed, the refresh
    for secret in (TG_TOKEN, TG_TOKEN.split(":", 1)[1], ACCESS, REFRESH, APP_SECRET, OA_SECRET_KEY,
                   f"AT-1{TAIL}", f"RT-1{TAIL}"):
        assert secret not in text, secret
