"""Failure injection on top of the fake servers (tests/fakes/*) for replies sent in several messages: make
the calls that follow the first delivered message fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class _Trip(list):
    """The fake's list of sent messages; runs `inject` once the first message is recorded."""

    def __init__(self, inject: Callable[[], None]):
        super().__init__()
        self._inject: Callable[[], None] | None = inject

    def append(self, item: Any) -> None:
        super().append(item)
        if self._inject is not None:
            inject, self._inject = self._inject, None
            inject()


def after_first_message(fake: Any, inject: Callable[[], None]) -> None:
    """Call `inject` (e.g. `lambda: fake.fail_next(502)`) right after the fake delivers its next message,
    so the failure lands on the second piece of a split reply. The fake must not have sent anything yet."""
    assert not fake.sent
    fake.sent = _Trip(inject)
