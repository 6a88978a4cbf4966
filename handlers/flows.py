"""Multi-step flows as declared step tables (python-telegram-bot's ConversationHandler and aiogram's
StatesGroup are the models): a flow has a name, a typed data class, named steps each with the handler
for text typed at that step, and a cancel path (/huybo). Where a person is (flow, step, data) is stored
per (channel, user) in the database (store.users state), so a restart loses nothing.

    onboarding = Flow("onboard", OnboardData)

    @onboarding.step("role")
    async def role_typed(ctx: Ctx) -> list[Reply]: ...

    await onboarding.begin(ctx, "role")               # or goto(ctx, "age", data)
    data = onboarding.data(ctx)                       # an OnboardData, defaults when not in the flow
    onboarding.at(ctx, "age")                         # is the person at that step of this flow?
    await onboarding.end(ctx)

The router sends typed text to the current step's handler; a step the table does not know (an older
version's state) leaves the flow and the text is treated as a question.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from bot.types import Reply
    from handlers.router import Ctx

log = logging.getLogger(__name__)

D = TypeVar("D")
StepHandler = Callable[["Ctx"], Awaitable[list["Reply"]]]


@dataclasses.dataclass(frozen=True)
class NoData:
    """The data of a flow that keeps none."""


class Flow(Generic[D]):
    """One flow's step table. `data_type` is a dataclass; its fields are what the flow keeps between steps
    (JSON-serialisable values). `staff`: only staff may be in it (checked by the dispatcher)."""

    def __init__(self, name: str, data_type: type[D] = NoData, *, staff: bool = False):  # type: ignore[assignment]
        """Declare the flow; add steps with the `step` decorator."""
        self.name = name
        self.data_type = data_type
        self.staff = staff
        self.steps: dict[str, StepHandler] = {}
        self.on_cancel: StepHandler | None = None

    def step(self, name: str) -> Callable[[StepHandler], StepHandler]:
        """Register the handler of text typed at step `name`."""
        def deco(fn: StepHandler) -> StepHandler:
            if name in self.steps:
                raise ValueError(f"flow {self.name!r}: step {name!r} declared twice")
            self.steps[name] = fn
            return fn
        return deco

    def cancel(self, fn: StepHandler) -> StepHandler:
        """Register what /huybo does in this flow (default: leave it and say so)."""
        self.on_cancel = fn
        return fn

    # --- where the person is ----------------------------------------------------------------------

    def active(self, ctx: Ctx) -> bool:
        """True when the person is in this flow."""
        return ctx.state.flow == self.name

    def at(self, ctx: Ctx, *steps: str) -> bool:
        """True when the person is in this flow at one of `steps` (any step when none are given)."""
        return self.active(ctx) and (not steps or ctx.state.step in steps)

    def data(self, ctx: Ctx) -> D:
        """The flow's typed data (fresh defaults when the person is not in it or the stored data is bad)."""
        if not self.active(ctx):
            return self.data_type()
        return self.load(ctx.state.data)

    def load(self, raw: dict[str, Any]) -> D:
        """Typed data from its stored form; unknown keys (an older version's) are dropped."""
        known = {f.name for f in dataclasses.fields(self.data_type)}  # type: ignore[arg-type]
        try:
            return self.data_type(**{k: v for k, v in (raw or {}).items() if k in known})
        except TypeError:
            log.warning("flow %s: stored data %r does not fit %s; starting afresh", self.name, raw,
                        self.data_type.__name__)
            return self.data_type()

    # --- moving ------------------------------------------------------------------------------------

    async def goto(self, ctx: Ctx, step: str, data: D | None = None) -> None:
        """Move (or enter) to `step`, storing `data` (the current data when None)."""
        if step not in self.steps:
            raise ValueError(f"flow {self.name!r} has no step {step!r}")
        value = self.data(ctx) if data is None else data
        raw = dataclasses.asdict(value)  # type: ignore[call-overload]
        await ctx.store.users.set_state(ctx.profile.id, self.name, step, raw)
        ctx.state = type(ctx.state)(self.name, step, raw)

    begin = goto

    async def end(self, ctx: Ctx) -> None:
        """Leave the flow (if the person is in it)."""
        if self.active(ctx):
            await ctx.store.users.clear_state(ctx.profile.id)
            ctx.state = type(ctx.state)()
