"""The declared multi-step flows and the typed data each keeps between steps (the step handlers register
themselves in their modules with `@FLOW.step(name)`). One place lists every flow a person can be in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.flows import Flow


@dataclass(frozen=True)
class OnboardData:
    """Onboarding: the role just chosen, and the topic to subscribe to once the age is known."""

    role: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class HandoffData:
    """The counsellor case open for the person."""

    case: int | None = None


@dataclass(frozen=True)
class PrivacyData:
    """When the deletion was offered (ISO time): the confirmation works for a while only."""

    at: str | None = None


@dataclass(frozen=True)
class WizardData:
    """The staff broadcast wizard's draft: text, topics, time (ISO, None = now), a time that fell in quiet
    hours (to offer moving it), and whether it is a Zalo OA promotion."""

    text: str | None = None
    topics: list[str] = field(default_factory=list)
    at: str | None = None
    quiet_at: str | None = None
    promo: bool = False


# Steps: "role" (waiting for a role), "age" (a student's age bracket).
ONBOARDING: Flow[OnboardData] = Flow("onboard", OnboardData)
# Steps: "ask" (waiting for the question), "open" (a case is open: messages go to it).
HANDOFF: Flow[HandoffData] = Flow("handoff", HandoffData)
# Steps: "confirm" (the deletion offered, waiting for yes or no).
PRIVACY: Flow[PrivacyData] = Flow("privacy", PrivacyData)
# Steps: "text", "topics", "time", "confirm".
WIZARD: Flow[WizardData] = Flow("guitin", WizardData, staff=True)

FLOWS = (ONBOARDING, HANDOFF, PRIVACY, WIZARD)
