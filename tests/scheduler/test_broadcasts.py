"""Creating, approving, editing and cancelling broadcasts: every bad input is refused clearly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.broadcasts import MAX_TEXT, BroadcastError, Broadcasts
from tests.conftest import BACKENDS
from tests.scheduler.conftest import add_subscribers

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


async def test_create_schedules_with_city_time(broadcasts: Broadcasts, store, clock):
    await add_subscribers(store, 3)
    at = broadcasts.parse_when("2026-09-02 09:30")
    row, timing = await broadcasts.create("Xin chào", ["tuyen_sinh"], at=at, created_by="cli")
    assert row.status == "scheduled" and row.id
    assert broadcasts.local(row.send_at) == "2026-09-02 09:30"
    assert timing.moved_from is None
    shown = await broadcasts.show(row.id)
    assert shown["status"] == "scheduled" and shown["total"] == 0 and shown["topics"] == ["tuyen_sinh"]


async def test_no_time_means_now(broadcasts: Broadcasts, store, clock):
    await add_subscribers(store, 1)
    row, _ = await broadcasts.create("Tin ngay", ["tuyen_sinh"])
    assert row.send_at == clock.now()


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "trống"), ("   ", "trống"), ("x" * (MAX_TEXT + 1), "tối đa 4.000"),
])
async def test_bad_text_is_refused(broadcasts: Broadcasts, store, text, fragment):
    await add_subscribers(store, 1)
    with pytest.raises(BroadcastError) as err:
        await broadcasts.create(text, ["tuyen_sinh"])
    assert fragment in err.value.vi


async def test_text_at_the_limit_is_accepted(broadcasts: Broadcasts, store):
    await add_subscribers(store, 1)
    row, _ = await broadcasts.create("x" * MAX_TEXT, ["tuyen_sinh"])
    assert len(row.text) == MAX_TEXT


async def test_unknown_topic_past_time_and_nobody_are_refused(broadcasts: Broadcasts, store, clock):
    await add_subscribers(store, 1)
    with pytest.raises(BroadcastError, match="unknown topic khong_co"):
        await broadcasts.create("a", ["khong_co"])
    with pytest.raises(BroadcastError, match="in the past"):
        await broadcasts.create("a", ["tuyen_sinh"], at=clock.now() - timedelta(hours=1))
    with pytest.raises(BroadcastError, match="audience is empty"):
        await broadcasts.create("a", ["viec_lam"])
    with pytest.raises(BroadcastError, match="audience is empty"):
        await broadcasts.create("a", ["tuyen_sinh"], roles=["phu_huynh"])
    with pytest.raises(BroadcastError, match="unknown channel"):
        await broadcasts.create("a", ["tuyen_sinh"], channels=["fax"])
    with pytest.raises(BroadcastError, match="cannot read the time"):
        broadcasts.parse_when("ngày mai")


async def test_quiet_hours_refused_or_moved_to_morning(broadcasts: Broadcasts, store):
    await add_subscribers(store, 1)
    late = broadcasts.parse_when("2026-09-02 22:15")
    with pytest.raises(BroadcastError) as err:
        await broadcasts.create("a", ["tuyen_sinh"], at=late)
    assert "giờ yên tĩnh" in err.value.vi and "2026-09-03 07:00" in err.value.vi
    row, timing = await broadcasts.create("a", ["tuyen_sinh"], at=late, move_out_of_quiet=True)
    assert broadcasts.local(row.send_at) == "2026-09-03 07:00" and timing.moved_from == late


async def test_cancel_and_cancel_finished(broadcasts: Broadcasts, store):
    await add_subscribers(store, 1)
    row, _ = await broadcasts.create("a", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-02 09:00"))
    cancelled = await broadcasts.cancel(row.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(BroadcastError) as err:
        await broadcasts.cancel(row.id)
    assert "không thể hủy" in err.value.vi and "already cancelled" in err.value.en
    with pytest.raises(BroadcastError, match="no broadcast 999"):
        await broadcasts.cancel(999)


async def test_draft_approve_and_edit(broadcasts: Broadcasts, store):
    await add_subscribers(store, 2)
    draft = await broadcasts.bstore.create(text="Nháp", topics=["tuyen_sinh"], status="draft", send_at=None)
    with pytest.raises(BroadcastError, match="no send time"):
        await broadcasts.approve(draft.id)
    edited = await broadcasts.edit(
        draft.id, text="Nội dung mới", at=broadcasts.parse_when("2026-09-05 08:00")
    )
    assert edited.text == "Nội dung mới" and broadcasts.local(edited.send_at) == "2026-09-05 08:00"
    approved, _ = await broadcasts.approve(draft.id, by="cli")
    assert approved.status == "scheduled" and approved.approved_by == "cli"
    with pytest.raises(BroadcastError, match="not a draft"):
        await broadcasts.approve(draft.id)
    with pytest.raises(BroadcastError, match="unknown topic"):
        await broadcasts.edit(draft.id, topics=["nope"])
