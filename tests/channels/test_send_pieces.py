"""bot.channels.base.send_pieces: a reply split into several messages goes out exactly once. (Each adapter
is tested against its fake server in its own test file: a 502 on the second piece.)"""

from __future__ import annotations

import logging

import pytest

from bot.channels import base
from bot.channels.base import send_pieces
from bot.ports import Blocked, Deferred, Permanent, RateLimited, Transient


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setattr(base, "PIECE_BACKOFF", 0.01)


class Platform:
    """send_one for send_pieces: delivers a piece unless an error is planned for its try."""

    def __init__(self, plan: dict[tuple[str, int], BaseException] | None = None):
        self.plan = plan or {}  # (piece, try number) -> error
        self.tries: dict[str, int] = {}
        self.delivered: list[str] = []

    async def __call__(self, piece: str) -> str:
        self.tries[piece] = self.tries.get(piece, 0) + 1
        error = self.plan.get((piece, self.tries[piece]))
        if error is not None:
            raise error
        self.delivered.append(piece)
        return f"id-{piece}"


async def send(platform: Platform, pieces=("a", "b", "c")) -> str | None:
    return await send_pieces(list(pieces), platform, channel="test", chat_id="42", size=len)


async def test_all_pieces_in_order_returns_the_last_id():
    platform = Platform()
    assert await send(platform) == "id-c"
    assert platform.delivered == ["a", "b", "c"]


async def test_an_error_on_the_first_piece_propagates_nothing_was_sent():
    platform = Platform({("a", 1): Transient("502")})
    with pytest.raises(Transient):
        await send(platform)
    assert platform.delivered == []


async def test_a_later_transient_or_rate_limit_is_retried_there_not_by_the_caller():
    platform = Platform({("b", 1): Transient("502"), ("b", 2): RateLimited("429", 0.05),
                         ("c", 1): Deferred("later", 0.01)})
    assert await send(platform) == "id-c"
    assert platform.delivered == ["a", "b", "c"] and platform.tries == {"a": 1, "b": 3, "c": 2}


async def test_a_later_piece_that_keeps_failing_is_given_up_reported_delivered_and_logged(caplog):
    platform = Platform({("b", n): Transient("502 Bad Gateway") for n in range(1, 10)})
    with caplog.at_level(logging.WARNING, logger="bot.channels.base"):
        assert await send(platform) == "id-a"  # delivered: the caller must not resend "a"
    assert (
        platform.delivered == ["a"]
        and platform.tries["b"] == base.PIECE_ATTEMPTS
        and "c" not in platform.tries
    )
    (record,) = [r for r in caplog.records if r.name == "bot.channels.base"]
    message = record.getMessage()
    assert "pieces 2-3 of 3" in message and "2 characters" in message and "502 Bad Gateway" in message


@pytest.mark.parametrize("error", [Blocked("403 blocked"), Permanent("400 too long"),
                                   Deferred("night", base.PIECE_MAX_WAIT + 1),
                                   RateLimited("429", base.PIECE_MAX_WAIT + 1), ValueError("a bug")])
async def test_hopeless_later_errors_are_not_retried_and_never_raised(error):
    platform = Platform({("b", 1): error})
    assert await send(platform) == "id-a"
    assert platform.tries == {"a": 1, "b": 1}


async def test_a_piece_without_an_id_keeps_the_last_known_one():
    async def send_one(piece: str) -> str | None:
        return "id-a" if piece == "a" else None

    assert await send_pieces(["a", "b"], send_one, channel="test", chat_id="42") == "id-a"
