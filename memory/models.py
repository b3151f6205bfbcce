"""Telemetry tables: one store per account (the first layer of the operating model).

Every table that an import can fill has an ``external_id`` (the id in the customer's own
system) that is unique per table, so a re-import upserts instead of duplicating. Rows refer
to their account by the internal integer ``account_id``; importers resolve external ids.

Everything here is data that existed at the time it is dated: tools compute signals
``as_of`` a date by filtering on these date columns. Ground truth for evaluation (hidden
trajectories, future outcomes) is *not* here; see ``keel.memory.truth``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Segment(StrEnum):
    SMB = "smb"
    MID_MARKET = "mid_market"
    ENTERPRISE = "enterprise"


class PricingModel(StrEnum):
    SEAT = "seat"
    USAGE = "usage"
    OUTCOME = "outcome"


class LifecycleStage(StrEnum):
    ONBOARDING = "onboarding"
    ADOPTION = "adoption"
    MATURE = "mature"
    RENEWAL = "renewal"
    CHURNED = "churned"


class ContactRole(StrEnum):
    CHAMPION = "champion"
    EXECUTIVE_SPONSOR = "executive_sponsor"
    ADMIN = "admin"
    USER = "user"


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class TicketCategory(StrEnum):
    # An export that gives no category: Keel does not guess one (a ticket without a
    # category is "an urgent-priority ticket", not "an urgent-priority how-to ticket").
    UNCATEGORISED = "uncategorised"
    BUG = "bug"
    HOW_TO = "how_to"
    BILLING = "billing"
    FEATURE_REQUEST = "feature_request"
    OUTAGE = "outage"
    ACCOUNT = "account"
    QUALITY = "quality"


class InvoiceStatus(StrEnum):
    PAID = "paid"
    OPEN = "open"
    LATE = "late"
    FAILED = "failed"
    # Voided, cancelled or refunded: not owed, so never late (tools.signals.billing).
    VOID = "void"


class RenewalOutcome(StrEnum):
    PENDING = "pending"
    RENEWED = "renewed"
    EXPANDED = "expanded"
    CONTRACTED = "contracted"
    CHURNED = "churned"


class Account(SQLModel, table=True):
    """A customer account. ``seats_purchased`` and ``arr`` are the current contract."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    name: str = Field(max_length=256)
    industry: str = Field(default="", max_length=128)
    segment: Segment = Field(default=Segment.SMB, index=True)
    arr: float = Field(default=0.0, ge=0)
    plan: str = Field(default="", max_length=64)
    pricing_model: PricingModel = Field(default=PricingModel.SEAT)
    contract_start: dt.date | None = None
    renewal_date: dt.date | None = Field(default=None, index=True)
    owner_csm: str = Field(default="", max_length=128, index=True)
    lifecycle_stage: LifecycleStage = Field(default=LifecycleStage.ADOPTION)
    region: str = Field(default="", max_length=64)
    seats_purchased: int | None = Field(default=None, ge=0)
    # What the customer pays for, for usage/outcome pricing: e.g. "tickets resolved".
    outcome_unit: str = Field(default="", max_length=64)
    # Contracted monthly outcome volume (the ceiling that signals an expansion conversation).
    outcome_ceiling_monthly: float | None = Field(default=None, ge=0)
    created_on: dt.date | None = None


class Contact(SQLModel, table=True):
    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str = Field(max_length=256)
    email: str = Field(max_length=320)
    title: str = Field(default="", max_length=256)
    role: ContactRole = Field(default=ContactRole.USER)
    # Snapshot of the source system; point-in-time engagement is derived from notes/tickets.
    last_engagement: dt.date | None = None
    left_company: bool = False
    left_on: dt.date | None = None
    added_on: dt.date | None = None


class UsageDaily(SQLModel, table=True):
    """Daily usage and outcome telemetry for one account."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        UniqueConstraint("account_id", "day", name="uq_usage_account_day"),
        Index("ix_usage_day", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    day: dt.date
    active_users: int = Field(default=0, ge=0)
    sessions: int = Field(default=0, ge=0)
    key_feature_events: int = Field(default=0, ge=0)
    # The outcome the customer pays for (e.g. tasks resolved) and its quality in [0, 1].
    outcome_count: int = Field(default=0, ge=0)
    outcome_quality: float | None = Field(default=None, ge=0, le=1)
    seats_purchased: int | None = Field(default=None, ge=0)
    seats_used: int | None = Field(default=None, ge=0)
    active_teams: int | None = Field(default=None, ge=0)


class ProductEventDaily(SQLModel, table=True):
    """Daily count of one named product event for an account (a product-analytics export).

    Kept alongside ``UsageDaily`` so models can use per-event volumes, whatever events a
    product emits; importers also roll these up into ``UsageDaily``.
    """

    __tablename__ = "product_event_daily"
    __table_args__ = (
        UniqueConstraint("account_id", "day", "event_name", name="uq_event_account_day_name"),
        Index("ix_event_day", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    day: dt.date
    event_name: str = Field(max_length=128)
    n_events: int = Field(default=0, ge=0)
    n_users: int | None = Field(default=None, ge=0)


class FeatureAdoption(SQLModel, table=True):
    """A feature first used by an account (or by more of its users) on a day."""

    __tablename__ = "feature_adoption"
    __table_args__ = (
        UniqueConstraint("account_id", "feature", "day", name="uq_feature_account_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    feature: str = Field(max_length=128)
    day: dt.date
    users: int = Field(default=1, ge=0)


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    requester_contact_id: int | None = Field(default=None, foreign_key="contact.id")
    opened_at: dt.datetime = Field(index=True)
    closed_at: dt.datetime | None = None
    priority: TicketPriority = Field(default=TicketPriority.NORMAL)
    category: TicketCategory = Field(default=TicketCategory.HOW_TO)
    status: TicketStatus = Field(default=TicketStatus.OPEN)
    subject: str = Field(default="", max_length=512)
    body: str = ""
    csat: int | None = Field(default=None, ge=1, le=5)


class CallNote(SQLModel, table=True):
    __tablename__ = "call_note"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    occurred_on: dt.date = Field(index=True)
    kind: str = Field(default="call", max_length=32)  # call | meeting | qbr | email
    author: str = Field(default="", max_length=128)
    # Comma-separated contact emails (or names) who attended.
    attendees: str = ""
    text: str = ""


class Invoice(SQLModel, table=True):
    __tablename__ = "invoice"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    issued_on: dt.date
    due_on: dt.date
    amount: float = Field(ge=0)
    status: InvoiceStatus = Field(default=InvoiceStatus.OPEN)
    paid_on: dt.date | None = None


class NpsResponse(SQLModel, table=True):
    __tablename__ = "nps_response"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    responded_on: dt.date
    score: int = Field(ge=0, le=10)
    comment: str = ""


class Renewal(SQLModel, table=True):
    """A renewal event and, once decided, its outcome and ARR change."""

    __tablename__ = "renewal"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    renewal_date: dt.date
    outcome: RenewalOutcome = Field(default=RenewalOutcome.PENDING)
    # When the outcome became known (churn notice, signed order form); None while pending.
    decided_on: dt.date | None = None
    arr_before: float = Field(default=0.0, ge=0)
    arr_after: float | None = Field(default=None, ge=0)


# Tables whose rows carry customer-written text (indexed into the vector store).
TEXT_TABLES: tuple[type[SQLModel], ...] = (Ticket, CallNote, NpsResponse)

# Import order: parents before children.
ENTITY_TABLES: dict[str, type[SQLModel]] = {
    "accounts": Account,
    "contacts": Contact,
    "usage": UsageDaily,
    "events": ProductEventDaily,
    "features": FeatureAdoption,
    "tickets": Ticket,
    "notes": CallNote,
    "invoices": Invoice,
    "nps": NpsResponse,
    "renewals": Renewal,
}
