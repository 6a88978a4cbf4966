"""SQLModel tables. Timestamps are stored as naive UTC and read back as aware UTC (UTCDateTime)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (column defaults)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC on every backend (SQLite keeps no zone) and returns aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Refuse naive datetimes; store aware ones as naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        """Read stored values back as aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def ts(nullable: bool = False, index: bool = False, **kw):
    """A UTC timestamp column."""
    if not nullable:
        kw.setdefault("default_factory", utcnow)
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index, **kw)


class User(SQLModel, table=True):
    """One person on one channel. `person_id` is reserved for linking identities across channels."""

    __tablename__ = "users"
    # AUTOINCREMENT on SQLite: a deleted user's id is never given to someone else.
    __table_args__ = (sa.UniqueConstraint("channel", "platform_id", name="uq_users_channel_platform"),
                      {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    platform_id: str = Field(max_length=64)
    person_id: int | None = Field(default=None, index=True)
    display_name: str | None = Field(default=None, max_length=128)
    role: str | None = Field(default=None, max_length=32)
    under_16: bool | None = None
    # none: nothing asked yet; accepted: agreed to the storage notice; parent_pending: under 16 and
    # told to get a parent's agreement before subscribing; parent_confirmed: said a parent agreed.
    consent: str = Field(default="none", max_length=24)
    active: bool = True
    inactive_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = ts()
    last_seen_at: datetime = ts()


class ConversationState(SQLModel, table=True):
    """Where one user is in a multi-step flow (onboarding, broadcast wizard, handoff, ...)."""

    __tablename__ = "conversation_states"

    user_id: int = Field(sa_column_args=(sa.ForeignKey("users.id", ondelete="CASCADE"),), primary_key=True)
    flow: str | None = Field(default=None, max_length=32)
    step: str | None = Field(default=None, max_length=32)
    data: str = Field(default="{}", sa_type=sa.Text)  # JSON object
    updated_at: datetime = ts()


class Subscription(SQLModel, table=True):
    """Current subscription of a user to a topic (active or not)."""

    __tablename__ = "subscriptions"
    __table_args__ = (sa.UniqueConstraint("user_id", "topic", name="uq_subscriptions_user_topic"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column_args=(sa.ForeignKey("users.id", ondelete="CASCADE"),), index=True)
    topic: str = Field(max_length=32, index=True)
    active: bool = True
    channel: str = Field(max_length=16)
    created_at: datetime = ts()
    updated_at: datetime = ts()


class SubscriptionEvent(SQLModel, table=True):
    """Every subscribe / unsubscribe, with its time and channel."""

    __tablename__ = "subscription_events"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column_args=(sa.ForeignKey("users.id", ondelete="CASCADE"),), index=True)
    topic: str = Field(max_length=32)
    action: str = Field(max_length=16)  # subscribe | unsubscribe
    channel: str = Field(max_length=16)
    at: datetime = ts()


class QuestionLog(SQLModel, table=True):
    """Every question asked; feeds the content-gap report. The user link is cut on data deletion."""

    __tablename__ = "questions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(
        default=None, sa_column_args=(sa.ForeignKey("users.id", ondelete="SET NULL"),), index=True
    )
    channel: str = Field(max_length=16)
    text: str = Field(sa_type=sa.Text)
    normalized: str = Field(sa_type=sa.Text)
    content_id: str | None = Field(default=None, max_length=64, index=True)
    score: float = 0.0
    answered: bool = False
    feedback: int | None = None  # +1 helpful, -1 wrong
    feedback_at: datetime | None = ts(nullable=True, default=None)
    asked_at: datetime = ts(index=True)


class HandoffCase(SQLModel, table=True):
    """A question handed to a human counsellor. While open, the bot does not answer over the staff."""

    __tablename__ = "handoff_cases"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(
        default=None, sa_column_args=(sa.ForeignKey("users.id", ondelete="CASCADE"),), index=True
    )
    status: str = Field(default="open", max_length=16, index=True)  # open | closed
    question: str = Field(sa_type=sa.Text)
    staff_chat_id: str | None = Field(default=None, max_length=64)
    staff_message_id: str | None = Field(default=None, max_length=64, index=True)
    opened_at: datetime = ts()
    closed_at: datetime | None = ts(nullable=True, default=None)
    claimed_by: str | None = Field(default=None, max_length=64)  # the console account working on it
    answered_at: datetime | None = ts(nullable=True, default=None)  # a reply reached the person
    answered_by: str | None = Field(default=None, max_length=64)  # console account or "telegram:<id>"


class HandoffMessage(SQLModel, table=True):
    """A message the bot posted in the staff chat about a case (the card and each follow-up), so a
    staff reply to any of them reaches the right person."""

    __tablename__ = "handoff_messages"
    __table_args__ = (sa.UniqueConstraint("chat_id", "message_id", name="uq_handoff_messages_message"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column_args=(sa.ForeignKey("handoff_cases.id", ondelete="CASCADE"),), index=True)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    at: datetime = ts()


class StaffAudit(SQLModel, table=True):
    """Staff commands used, and refused attempts by non-staff."""

    __tablename__ = "staff_audit"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    platform_id: str = Field(max_length=64)
    command: str = Field(max_length=64)
    allowed: bool = False
    at: datetime = ts()


class KeyValue(SQLModel, table=True):
    """Small service settings kept across restarts (the generated webhook secret, ...)."""

    __tablename__ = "kv"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=sa.Text)
    updated_at: datetime = ts()


class ProcessedUpdate(SQLModel, table=True):
    """Platform update ids already handled, so a redelivered update is processed once."""

    __tablename__ = "processed_updates"
    __table_args__ = (sa.UniqueConstraint("source", "key", name="uq_processed_updates"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    key: str = Field(max_length=128)
    seen_at: datetime = ts(index=True)


class OAuthToken(SQLModel, table=True):
    """The current access/refresh token pair of an OAuth channel (Zalo OA rotates refresh tokens)."""

    __tablename__ = "oauth_tokens"

    channel: str = Field(primary_key=True, max_length=16)
    access_token: str = Field(sa_type=sa.Text)
    refresh_token: str = Field(sa_type=sa.Text)
    expires_at: datetime = ts()
    version: int = 0
    dead: bool = False
    dead_reason: str | None = Field(default=None, max_length=200)
    updated_at: datetime = ts()


class Broadcast(SQLModel, table=True):
    """A message to an audience at a time.

    Lifecycle: draft -> scheduled -> sending -> done, or cancelled / failed / missed. `send_at` may be
    empty only on a draft (a calendar event whose date staff set each year). The audience (topics,
    optional roles and channels) is frozen into delivery rows when sending starts.
    """

    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, primary_key=True)
    title: str | None = Field(default=None, max_length=200)  # campaign name or a short label
    text: str = Field(sa_type=sa.Text)
    buttons: str = Field(default="[]", sa_type=sa.Text)  # JSON: [{"label", "url"|"payload"}]
    topics: str = Field(default="[]", sa_type=sa.Text)  # JSON list
    roles: str = Field(default="[]", sa_type=sa.Text)  # JSON list; empty = everyone
    channels: str = Field(default="[]", sa_type=sa.Text)  # JSON list; empty = every channel
    send_at: datetime | None = ts(nullable=True, index=True, default=None)
    status: str = Field(default="draft", max_length=16, index=True)
    kind: str = Field(default="manual", max_length=16)  # manual | campaign
    promotion: bool = False  # counts against Zalo OA promotion limits
    campaign_key: str | None = Field(default=None, max_length=128, unique=True)
    created_by: str | None = Field(default=None, max_length=64)
    approved_by: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, sa_type=sa.Text)
    total: int = 0  # recipients frozen when sending started
    created_at: datetime = ts()
    updated_at: datetime = ts()
    started_at: datetime | None = ts(nullable=True, default=None)
    finished_at: datetime | None = ts(nullable=True, default=None)
    reported: bool = False  # the staff summary (or the missed notice) was sent


class Delivery(SQLModel, table=True):
    """Outbox: one row per (broadcast, recipient, channel). Workers claim rows with a lease.

    status: pending (not sent yet; `leased_by`/`lease_until` say which worker holds it), sending (the
    request is in flight), sent, failed, blocked, skipped, unknown (in flight when a worker died: maybe
    delivered, never resent).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("broadcast_id", "user_id", "channel", name="uq_deliveries_recipient"),
        sa.Index("ix_deliveries_claim", "broadcast_id", "status", "id"),
        # The scheduler's reap (every sync, every few seconds) looks for rows left 'sending': without this
        # it read every delivery ever made.
        sa.Index("ix_deliveries_status_lease", "status", "lease_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(sa_column_args=(sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),))
    user_id: int | None = Field(
        default=None, sa_column_args=(sa.ForeignKey("users.id", ondelete="SET NULL"),), index=True
    )
    channel: str = Field(max_length=16)
    platform_id: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    not_before: datetime | None = ts(nullable=True, default=None)
    lease_until: datetime | None = ts(nullable=True, default=None)
    leased_by: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = ts(nullable=True, default=None)
    message_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime = ts()


class WebMessage(SQLModel, table=True):
    """The web channel's mailbox: every message shown in a visitor's chat (the bot's and what they typed),
    in order (`id` is the sequence number the page acknowledges), so a reload, a lost connection or a
    restart loses nothing. Keyed by the visitor id (users.platform_id of channel "web")."""

    __tablename__ = "web_messages"
    __table_args__ = (sa.Index("ix_web_messages_visitor", "visitor", "id"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    visitor: str = Field(max_length=64)
    sender: str = Field(max_length=8)  # "bot" | "user"
    body: str = Field(sa_type=sa.Text)  # JSON {"text": str, "buttons": [[{"label", "payload"|"url"}]]}
    at: datetime = ts()

class QuizRun(SQLModel, table=True):
    """One run of the interest quiz: started, and once finished its scores and strongest types. /xoadulieu
    unlinks the run and clears its scores; the anonymous row stays for the counts (started, finished,
    types)."""

    __tablename__ = "quiz_runs"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(
        default=None, sa_column_args=(sa.ForeignKey("users.id", ondelete="SET NULL"),), index=True
    )
    channel: str = Field(max_length=16)
    started_at: datetime = ts(index=True)
    finished_at: datetime | None = ts(nullable=True, default=None)
    scores: str | None = Field(default=None, sa_type=sa.Text)  # JSON {"R": [5, 6], ...}: points and maximum
    top: str | None = Field(default=None, max_length=8)  # the strongest types shown, strongest first ("RCI")


class Lead(SQLModel, table=True):
    """A registration for counselling (/dangkytuvan), written once on confirmation. After the retention
    period (CHONNGHE_LEAD_RETENTION) the name and phone are cleared and the user link cut (anonymised)."""

    __tablename__ = "leads"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(
        default=None, sa_column_args=(sa.ForeignKey("users.id", ondelete="SET NULL"),), index=True
    )
    channel: str = Field(max_length=16)
    full_name: str | None = Field(default=None, max_length=80)
    phone: str | None = Field(default=None, max_length=10)  # canonical: ten digits, leading 0
    who: str = Field(max_length=16)  # student | parent
    birth_year: int | None = None
    grade: int | None = None
    trade_id: str | None = Field(default=None, max_length=64)
    trade_text: str | None = Field(default=None, max_length=80)  # a trade typed that content does not list
    school_id: str | None = Field(default=None, max_length=64, index=True)
    call_time: str = Field(max_length=16)  # morning | afternoon | evening | any
    created_at: datetime = ts(index=True)
    anonymised_at: datetime | None = ts(nullable=True, default=None)

class StaffAccount(SQLModel, table=True):
    """A staff console account (chonnghe staff add): role, argon2 password hash, lock state."""

    __tablename__ = "staff_accounts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    role: str = Field(max_length=16)  # admin | editor | counsellor
    password_hash: str = Field(max_length=255)
    must_change: bool = False  # a one-time password: change it at the next login
    disabled: bool = False
    version: int = 1  # bumped on a password change or disable: older sessions stop working
    locked_until: datetime | None = ts(nullable=True, default=None)
    created_at: datetime = ts()
    last_login_at: datetime | None = ts(nullable=True, default=None)


class ConsoleAudit(SQLModel, table=True):
    """Every staff console action and sign-in attempt: who, what, when, from where."""

    __tablename__ = "console_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = ts(index=True)
    actor: str = Field(max_length=64, index=True)  # the account name (or the name typed at sign-in)
    action: str = Field(max_length=48)  # login, login_failed, locked, broadcast_create, case_reply...
    detail: str = Field(default="", sa_type=sa.Text)
    address: str = Field(default="", max_length=64)


class GapResolution(SQLModel, table=True):
    """A question of the unanswered queue that staff handled (attached to an entry, ignored, new entry):
    questions with this text asked up to `at` leave the queue."""

    __tablename__ = "gap_resolutions"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_type=sa.Text)
    action: str = Field(max_length=16)  # attach | ignore | new
    entry_id: str | None = Field(default=None, max_length=128)
    by: str = Field(max_length=64)
    at: datetime = ts()
