"""Replays: a Zalo OA event whose signed timestamp is far from now is refused (a captured request cannot be
replayed once its dedup row is pruned), and Zalo Bot updates without a message_id are deduplicated on a
stable key, so a redelivery is answered once."""

from __future__ import annotations

import copy
import time

from bot.channels import zalo_oa
from bot.channels.base import DEDUP_WINDOW
from bot.outbound import NullLimiter
from tests.channels.test_zalo_bot import make_settings as zb_settings
from tests.channels.test_zalo_bot import settled
from tests.channels.test_zalo_oa import hook, oa_settings
from tests.fakes import eventually, running_app
from tests.fakes.zalo_bot_api import FakeZaloBot
from tests.fakes.zalo_oa_api import FakeZaloOA

USER = "8436000000000000777"


def test_the_replay_window_is_shorter_than_the_dedup_window():
    assert zalo_oa.REPLAY_WINDOW * 4 <= DEDUP_WINDOW


async def test_oa_events_signed_long_ago_or_in_the_future_are_refused(db_url):
    async with FakeZaloOA() as fake, running_app(oa_settings(db_url, fake), limiter=NullLimiter()) as app:
        now_ms = int(time.time() * 1000)
        for offset_ms in (-30 * 86_400_000, -3 * 3_600_000, +3 * 3_600_000):
            event = fake.event_text(USER, "/chude")
            event["timestamp"] = str(now_ms + offset_ms)  # signed with that timestamp, as captured
            status, _ = await fake.post_webhook(hook(app), event)
            assert status == 401, offset_ms
        event = fake.event_text(USER, "/chude")
        event["timestamp"] = str(now_ms - 60_000)  # a minute late: Zalo's own redelivery
        assert (await fake.post_webhook(hook(app), event))[0] == 200
        await fake.wait_messages(USER, 1)
        await eventually(lambda: app.conversation.in_flight == 0)
        assert len(fake.messages_to(USER)) == 1


async def test_zalo_bot_redelivered_update_without_message_id_is_answered_once(db_url):
    async with FakeZaloBot(max_poll=0.3) as fake, running_app(zb_settings(db_url, fake),
                                                               limiter=NullLimiter()) as app:
        update = fake.message_update("u1", "/chude")
        del update["message"]["message_id"]
        for _ in range(3):
            fake.push_update(copy.deepcopy(update))
        await fake.wait_messages("u1", 1)
        await fake.wait_for(lambda: not fake.updates, what="all handed out")
        await settled(app)
        assert len(fake.messages_to("u1")) == 1
        later = copy.deepcopy(update)
        later["message"]["date"] += 5000  # the same text sent again later is a new message
        fake.push_update(later)
        await fake.wait_messages("u1", 1, after=1)
