"""One broadcast, three channels: `chonnghe serve` with Telegram, the Zalo OA and the Zalo Bot configured
against their fakes (each on loopback, the real adapters on our side). People subscribe to tuyen_sinh on
each channel by talking to the bot; one broadcast created with the CLI reaches each of them exactly once,
and `broadcast show --json` counts per channel."""

from __future__ import annotations

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_bot_api import DEFAULT_TOKEN as ZALO_BOT_TOKEN
from tests.fakes.zalo_bot_api import FakeZaloBot
from tests.fakes.zalo_oa_api import APP_ID, APP_SECRET, OA_SECRET_KEY, FakeZaloOA
from tests.test_serve_broadcast import cli, finished
from tests.test_serve_telegram import Serve, content_for_serve, healthz, serve_env

PEOPLE = 3  # per channel
MARKER = "Thông báo tuyển sinh E2E-3KENH"


@pytest.fixture
async def fakes():
    async with FakeTelegram() as telegram, FakeZaloOA() as oa, FakeZaloBot(max_poll=2.0) as zbot:
        yield telegram, oa, zbot


async def test_one_broadcast_reaches_every_channel_once(tmp_path, fakes):
    telegram, oa, zbot = fakes
    env = serve_env(
        tmp_path,
        CHONNGHE_QUIET_HOURS="",
        CHONNGHE_CONTENT_DIR=content_for_serve(),  # the suite may run at night
        CHONNGHE_TELEGRAM_TOKEN="123:ABC",
        CHONNGHE_TELEGRAM_API_URL=telegram.base_url,
        CHONNGHE_ZALO_OA_APP_ID=APP_ID,
        CHONNGHE_ZALO_OA_APP_SECRET=APP_SECRET,
        CHONNGHE_ZALO_OA_SECRET_KEY=OA_SECRET_KEY,
        CHONNGHE_ZALO_OA_ACCESS_TOKEN="AT-0",
        CHONNGHE_ZALO_OA_REFRESH_TOKEN="RT-0",
        CHONNGHE_ZALO_OA_API_URL=oa.url,
        CHONNGHE_ZALO_OAUTH_URL=oa.url,
        CHONNGHE_ZALO_BOT_TOKEN=ZALO_BOT_TOKEN,
        CHONNGHE_ZALO_BOT_API_URL=zbot.url,
    )
    tg_users = [700_100 + i for i in range(PEOPLE)]
    oa_users = [f"73510000000000001{i}" for i in range(PEOPLE)]
    bot_users = [f"zb{i:014x}" for i in range(PEOPLE)]
    async with Serve(env, "--content", content_for_serve()) as serve:
        port = await serve.port()
        assert (await healthz(port))["channels"] == {"telegram": "on", "zalo_oa": "on", "zalo_bot": "on",
                                                     "web": "on"}
        hook = f"http://127.0.0.1:{port}/zalo/oa/webhook"

        for user in tg_users:
            telegram.push_message(user, "/dangky tuyen_sinh")
        for user in oa_users:
            assert (await oa.post_webhook(hook, oa.event_text(user, "/dangky tuyen_sinh")))[0] == 200
        for user in bot_users:
            zbot.push_text(user, "/dangky tuyen_sinh")
        for fake, users in ((telegram, tg_users), (oa, oa_users), (zbot, bot_users)):
            for user in users:
                (reply,) = await fake.wait_messages(user, 1, within=20)
                assert "Đã đăng ký nhận «" in reply.text, reply.text

        code, out, err = await cli(
            env, tmp_path, "broadcast", "create", "--text", MARKER, "--topic", "tuyen_sinh"
        )
        assert code == 0, err
        bid = int(out.strip().splitlines()[0])
        data = await finished(env, tmp_path, bid, 60)
        assert await serve.terminate() == 0

    assert data["status"] == "done" and data["total"] == 3 * PEOPLE
    assert data["counts"] == {"sent": 3 * PEOPLE}
    assert data["channels"] == {"telegram": {"sent": PEOPLE}, "zalo_oa": {"sent": PEOPLE},
                                "zalo_bot": {"sent": PEOPLE}}
    for fake, users in ((telegram, tg_users), (oa, oa_users), (zbot, bot_users)):
        for user in users:
            got = [m for m in fake.messages_to(user) if MARKER in m.text]
            assert len(got) == 1, (fake, user, len(got))
