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


@dataclass(frozen=True)
class QuizData:
    """The interest quiz: the run's id (quiz_runs) and the answers so far, item id -> choice id, in the order
    given (going back drops the last)."""

    run: int | None = None
    answers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LeadData:
    """The registration form before it is confirmed (nothing is written to the leads table until then). The
    form asks for the first field still missing, so "Sửa" a field simply clears it. `parent_ok`: an under-16
    student said a parent agreed; `trade_asked` / `school_asked`: answered (possibly with "none")."""

    name: str | None = None
    phone: str | None = None
    who: str | None = None  # student | parent
    birth_year: int | None = None
    grade: int | None = None
    trade: str | None = None  # a trade id of content
    trade_text: str | None = None  # a trade typed that content does not list
    trade_asked: bool = False
    school: str | None = None  # a school id of content
    school_asked: bool = False
    time: str | None = None  # morning | afternoon | evening | any
    parent_ok: bool = False


# Steps: "role" (waiting for a role), "age" (a student's age bracket).
ONBOARDING: Flow[OnboardData] = Flow("onboard", OnboardData)
# Steps: "ask" (waiting for the question), "open" (a case is open: messages go to it).
HANDOFF: Flow[HandoffData] = Flow("handoff", HandoffData)
# Steps: "confirm" (the deletion offered, waiting for yes or no).
PRIVACY: Flow[PrivacyData] = Flow("privacy", PrivacyData)
# Steps: "text", "topics", "time", "confirm".
WIZARD: Flow[WizardData] = Flow("guitin", WizardData, staff=True)

# Steps: "q" (waiting for the answer to the current item).
QUIZ: Flow[QuizData] = Flow("quiz", QuizData)
# Steps: "parent" (an under-16's parental agreement), "name", "phone", "who", "birth", "trade", "school",
# "time", "confirm" (the summary).
LEAD: Flow[LeadData] = Flow("lead", LeadData)

FLOWS = (ONBOARDING, HANDOFF, PRIVACY, WIZARD, QUIZ, LEAD)
