"""The payload codec and the step tables: typed payloads round-trip, forged ones are refused politely,
and a flow's unknown step leaves the flow instead of trapping the person."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from handlers import build_router
from handlers.buttons import Feedback, Province, Subscribe
from handlers.callbacks import BadPayload, CallbackData, PayloadTooLong
from handlers.flows import Flow
from handlers.steps import FLOWS
from tests.handlers.conftest import Person


def test_payloads_round_trip_and_drop_trailing_defaults():
    assert Province("hai_phong").pack() == "tr:hai_phong"
    assert Province("hai_phong", 2).pack() == "tr:hai_phong:2"
    assert Province.unpack("tr:hai_phong:1") == Province("hai_phong", 1)
    assert Province.unpack("tr") == Province()
    assert Feedback.unpack(Feedback("nghe.han", True).pack()) == Feedback("nghe.han", True)
    assert Subscribe("*").pack() == "dk:*"


@pytest.mark.parametrize("payload", ["tr:hai_phong:x", "tr:a:1:2", "fb:nghe.han", "fb:nghe.han:2", "fb::1",
                                     "dk:a:b"])
def test_malformed_payloads_do_not_decode(payload):
    codec = {"tr": Province, "fb": Feedback, "dk": Subscribe}[payload.split(":")[0]]
    with pytest.raises(BadPayload):
        codec.unpack(payload)


def test_packing_refuses_what_could_not_come_back():
    @dataclass(frozen=True)
    class Long(CallbackData, prefix="zz"):
        text: str

    with pytest.raises(PayloadTooLong):
        Long("x" * 70).pack()
    with pytest.raises(ValueError):
        Long("a:b").pack()


def test_every_prefix_and_flow_is_registered_once():
    router = build_router()
    assert set(router.flows) == {flow.name for flow in FLOWS}
    assert all(flow.steps for flow in FLOWS)


@pytest.mark.parametrize("forged", ["fb:nghe.han:7", "tr:hai_phong:-x", "zz:anything", "role:a:b:c",
                                    "m:faq:x"])
async def test_forged_buttons_get_a_polite_answer(an: Person, forged):
    (reply,) = await an.press(forged)
    assert "không còn dùng được" in reply.text or "nút" in reply.text.lower()


async def test_an_unknown_step_leaves_the_flow(an: Person, store):
    await an.say("/start")
    user = await store.users.get(an.ref)
    await store.users.set_state(user.id, "onboard", "a_step_of_an_older_version", {})
    replies = await an.say("hoc nghe han o dau")
    assert any("Hàn" in r.text for r in replies)
    assert (await store.users.get_state(user.id)).flow is None


def test_flow_data_is_typed_and_tolerates_old_keys():
    @dataclass(frozen=True)
    class Data:
        n: int = 0

    flow = Flow("t", Data)
    assert flow.load({"n": 3, "gone": "x"}) == Data(3)
