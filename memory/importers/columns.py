"""The documented column set per importable entity: names, types, aliases, allowed values.

This module is the single source of the import format: the validator reads it, and
``docs/import-format.md`` shows the tables that ``render_markdown()`` prints (a test keeps
the two in step). ``reference_markdown()`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlmodel import SQLModel

from keel.memory.models import (
    Account,
    CallNote,
    Contact,
    ContactRole,
    FeatureAdoption,
    Invoice,
    InvoiceStatus,
    LifecycleStage,
    NpsResponse,
    PricingModel,
    ProductEventDaily,
    Renewal,
    RenewalOutcome,
    Segment,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
    UsageDaily,
)


class Kind(StrEnum):
    """How a cell is parsed and checked."""

    TEXT = "text"
    INT = "integer"
    FLOAT = "number"
    BOOL = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    ACCOUNT = "account ref"
    CONTACT = "contact ref"
    TERMS = "payment terms"


# The payment terms an invoice without an issue date is taken to have (net 30: the most
# common B2B terms).
DEFAULT_PAYMENT_TERMS_DAYS = 30


@dataclass(frozen=True)
class Column:
    """One column of an import file.

    Attributes:
        name: The canonical header (what the docs show).
        kind: How values are parsed.
        required: The column must be present and every cell non-empty.
        aliases: Other headers accepted for it (matched case-insensitively).
        target: The database column it fills, when that differs from ``name``.
        enum: The allowed values, for ``Kind.ENUM``.
        synonyms: Extra spellings accepted for enum values (``"medium" -> "normal"``).
        minimum: Smallest allowed number.
        maximum: Largest allowed number.
        doc: What it means, for the docs.
        stored: Whether it fills a database column; ``False`` for columns only read to
            derive another (an invoice's payment terms give its issue date).
    """

    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    aliases: tuple[str, ...] = ()
    target: str | None = None
    enum: type[StrEnum] | None = None
    synonyms: dict[str, str] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    doc: str = ""
    stored: bool = True

    @property
    def db_column(self) -> str:
        return self.target or self.name

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(m.value for m in self.enum) if self.enum else ()


@dataclass(frozen=True)
class Entity:
    """An importable entity: the files that carry it and their columns.

    Attributes:
        name: The entity name (a key of ``keel.memory.models.ENTITY_TABLES`` or an analytics shape).
        table: The table it fills directly; ``None`` for shapes only used to derive others.
        file_names: File stems that identify it (``accounts.csv`` -> ``accounts``).
        columns: The documented columns.
        key: Canonical columns that identify a row within a file (duplicates are errors).
        doc: One line for the docs.
    """

    name: str
    table: type[SQLModel] | None
    file_names: tuple[str, ...]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _external_id(*aliases: str, required: bool = True) -> Column:
    return Column(
        "external_id",
        required=required,
        aliases=("id", *aliases),
        doc="Your system's id; re-importing the same id updates the row.",
    )


def _account_ref() -> Column:
    return Column(
        "account_id",
        Kind.ACCOUNT,
        required=True,
        aliases=("account", "account_external_id", "customer_id", "company_id"),
        doc="The account's external id (in this import or already in Keel).",
    )


_NON_NEGATIVE = 0.0

ACCOUNTS = Entity(
    "accounts",
    Account,
    ("accounts", "account", "customers", "customer", "companies", "company"),
    (
        _external_id("account_id", "account_external_id", "customer_id", "company_id"),
        Column(
            "name",
            aliases=("account_name", "company_name", "customer_name", "company"),
            doc="Defaults to the external id.",
        ),
        Column("industry", aliases=("vertical", "sector")),
        Column(
            "segment",
            Kind.ENUM,
            aliases=("tier", "customer_segment"),
            enum=Segment,
            synonyms={
                "mid": "mid_market",
                "midmarket": "mid_market",
                "mm": "mid_market",
                "ent": "enterprise",
                "small_business": "smb",
            },
            doc="Default smb.",
        ),
        Column("arr", Kind.FLOAT, aliases=("annual_recurring_revenue",), minimum=_NON_NEGATIVE),
        Column("plan", aliases=("plan_name", "product")),
        Column(
            "pricing_model", Kind.ENUM, aliases=("pricing",), enum=PricingModel, doc="Default seat."
        ),
        Column("contract_start", Kind.DATE, aliases=("contract_start_date", "contract_start_on")),
        Column(
            "renewal_date",
            Kind.DATE,
            aliases=("renewal_on", "renewal", "contract_end", "contract_end_date"),
        ),
        Column("owner_csm", aliases=("csm", "owner", "account_owner", "csm_email")),
        Column(
            "lifecycle_stage",
            Kind.ENUM,
            aliases=("stage", "lifecycle"),
            enum=LifecycleStage,
            doc="Default adoption.",
        ),
        Column("region", aliases=("country", "geo", "territory")),
        Column(
            "seats_purchased",
            Kind.INT,
            aliases=("seats", "licenses", "licences"),
            minimum=_NON_NEGATIVE,
        ),
        Column("outcome_unit", doc="What usage/outcome pricing counts, e.g. tickets resolved."),
        Column(
            "outcome_ceiling_monthly",
            Kind.FLOAT,
            aliases=("outcome_ceiling",),
            minimum=_NON_NEGATIVE,
        ),
        Column("created_on", Kind.DATE, aliases=("created_at", "created", "signup_date")),
    ),
    key=("external_id",),
    doc="One row per customer account.",
)

CONTACTS = Entity(
    "contacts",
    Contact,
    ("contacts", "contact", "people"),
    (
        _external_id("contact_id"),
        _account_ref(),
        Column("name", aliases=("full_name", "contact_name"), doc="Defaults to the email."),
        Column("email", required=True, aliases=("email_address", "contact_email")),
        Column("title", aliases=("job_title",)),
        Column(
            "role",
            Kind.ENUM,
            aliases=("contact_role", "persona"),
            enum=ContactRole,
            synonyms={
                "sponsor": "executive_sponsor",
                "exec_sponsor": "executive_sponsor",
                "administrator": "admin",
            },
            doc="Default user.",
        ),
        Column("last_engagement", Kind.DATE, aliases=("last_engaged_on", "last_activity")),
        Column("left_company", Kind.BOOL, aliases=("left", "departed"), doc="Default false."),
        Column("left_on", Kind.DATE, aliases=("left_date",)),
        Column("added_on", Kind.DATE, aliases=("created_at", "created_on")),
    ),
    key=("external_id",),
    doc="People at an account; tickets and NPS responses may refer to them.",
)

USAGE = Entity(
    "usage",
    UsageDaily,
    ("usage", "usage_daily", "daily_usage"),
    (
        _account_ref(),
        Column("day", Kind.DATE, required=True, aliases=("date", "usage_date")),
        Column("active_users", Kind.INT, aliases=("dau", "users"), minimum=_NON_NEGATIVE),
        Column("sessions", Kind.INT, minimum=_NON_NEGATIVE),
        Column(
            "key_feature_events", Kind.INT, aliases=("key_events", "events"), minimum=_NON_NEGATIVE
        ),
        Column("outcome_count", Kind.INT, aliases=("outcomes",), minimum=_NON_NEGATIVE),
        Column("outcome_quality", Kind.FLOAT, minimum=0.0, maximum=1.0),
        Column("seats_purchased", Kind.INT, aliases=("seats",), minimum=_NON_NEGATIVE),
        Column("seats_used", Kind.INT, minimum=_NON_NEGATIVE),
        Column("active_teams", Kind.INT, aliases=("teams",), minimum=_NON_NEGATIVE),
    ),
    key=("account_id", "day"),
    doc="Daily usage and outcome telemetry, one row per account and day.",
)

EVENTS = Entity(
    "events",
    ProductEventDaily,
    (
        "events",
        "event",
        "event_daily",
        "events_daily",
        "daily_events",
        "product_events",
        "product_event_daily",
        "event_counts",
    ),
    (
        _account_ref(),
        Column("day", Kind.DATE, required=True, aliases=("date", "event_date")),
        Column(
            "event_name", required=True, aliases=("event", "event_type", "event_type_name", "name")
        ),
        Column(
            "n_events",
            Kind.INT,
            required=True,
            aliases=("count", "event_count", "events", "n"),
            minimum=_NON_NEGATIVE,
        ),
        Column(
            "n_users",
            Kind.INT,
            aliases=("users", "distinct_users", "unique_users"),
            minimum=_NON_NEGATIVE,
        ),
    ),
    key=("account_id", "day", "event_name"),
    doc="Product-analytics export: daily count of each event per account (long table).",
)

FEATURES = Entity(
    "features",
    FeatureAdoption,
    ("features", "feature", "feature_adoption", "feature_adoptions"),
    (
        _external_id(required=False),
        _account_ref(),
        Column("feature", required=True, aliases=("feature_name", "name")),
        Column(
            "day",
            Kind.DATE,
            required=True,
            aliases=("date", "adopted_on", "first_used_on", "first_used"),
        ),
        Column(
            "users",
            Kind.INT,
            aliases=("user_count", "n_users"),
            minimum=_NON_NEGATIVE,
            doc="Default 1.",
        ),
    ),
    key=("account_id", "feature", "day"),
    doc="A feature first used by an account (or by more of its users) on a day.",
)

TICKETS = Entity(
    "tickets",
    Ticket,
    ("tickets", "ticket", "support_tickets"),
    (
        _external_id("ticket_id"),
        _account_ref(),
        Column(
            "requester_id",
            Kind.CONTACT,
            aliases=("requester", "requester_contact_id", "requester_email", "contact_id"),
            target="requester_contact_id",
            doc="A contact's external id or email.",
        ),
        Column(
            "opened_at", Kind.DATETIME, required=True, aliases=("created_at", "opened", "created")
        ),
        Column("closed_at", Kind.DATETIME, aliases=("solved_at", "resolved_at", "closed")),
        Column(
            "priority",
            Kind.ENUM,
            enum=TicketPriority,
            synonyms={"medium": "normal", "critical": "urgent"},
            doc="Default normal.",
        ),
        Column(
            "category",
            Kind.ENUM,
            aliases=("type", "ticket_type"),
            enum=TicketCategory,
            synonyms={
                "question": "how_to",
                "howto": "how_to",
                "problem": "bug",
                "incident": "outage",
                "feature": "feature_request",
                "uncategorized": "uncategorised",
                "other": "uncategorised",
            },
            doc="Default uncategorised (Keel does not guess a category).",
        ),
        Column(
            "status",
            Kind.ENUM,
            enum=TicketStatus,
            synonyms={"new": "open", "hold": "pending", "on_hold": "pending", "resolved": "solved"},
            doc="Default open.",
        ),
        Column("subject", aliases=("title",)),
        Column("body", aliases=("description", "text", "comment")),
        Column(
            "csat", Kind.INT, aliases=("satisfaction", "satisfaction_score"), minimum=1, maximum=5
        ),
    ),
    key=("external_id",),
    doc="Support tickets (a helpdesk export).",
)

NOTES = Entity(
    "notes",
    CallNote,
    ("notes", "note", "call_notes", "call_note", "calls", "meetings"),
    (
        _external_id("note_id"),
        _account_ref(),
        Column(
            "occurred_on",
            Kind.DATE,
            required=True,
            aliases=("date", "occurred_at", "call_date", "meeting_date"),
        ),
        Column("kind", aliases=("type",), doc="call, meeting, qbr or email; default call."),
        Column("author", aliases=("csm", "owner")),
        Column("attendees", doc="Comma-separated contact emails or names."),
        Column("text", aliases=("body", "note", "notes", "summary", "content")),
    ),
    key=("external_id",),
    doc="Call and meeting notes.",
)

# Billing tools' invoice states, as exported by Stripe, Chargebee, Recurly, Zuora or an
# accounting package, mapped onto Keel's five.
INVOICE_STATUS_SYNONYMS = {
    "succeeded": "paid",
    "settled": "paid",
    "unpaid": "open",
    "pending": "open",
    "posted": "open",
    "issued": "open",
    "sent": "open",
    "payment_due": "open",
    "partially_paid": "open",
    "overdue": "late",
    "past_due": "late",
    "not_paid": "late",
    "uncollectible": "failed",
    "payment_failed": "failed",
    "declined": "failed",
    "written_off": "failed",
    "voided": "void",
    "cancelled": "void",
    "canceled": "void",
    "refunded": "void",
    "credited": "void",
}

INVOICES = Entity(
    "invoices",
    Invoice,
    ("invoices", "invoice"),
    (
        _external_id("invoice_id", "invoice_number", "number"),
        _account_ref(),
        Column(
            "issued_on",
            Kind.DATE,
            aliases=("issue_date", "invoice_date", "date", "created"),
            doc="Defaults to the due date less the payment terms.",
        ),
        Column("due_on", Kind.DATE, required=True, aliases=("due_date", "due")),
        Column(
            "payment_terms",
            Kind.TERMS,
            aliases=("terms", "net_terms", "net_term_days", "days_until_due"),
            stored=False,
            doc=f"Only to default the issue date; default {DEFAULT_PAYMENT_TERMS_DAYS} days.",
        ),
        Column(
            "amount",
            Kind.FLOAT,
            required=True,
            aliases=("total", "amount_due", "invoice_amount"),
            minimum=_NON_NEGATIVE,
        ),
        Column(
            "status",
            Kind.ENUM,
            aliases=("invoice_status", "payment_status"),
            enum=InvoiceStatus,
            synonyms=INVOICE_STATUS_SYNONYMS,
            doc=(
                "Default paid when the row has a payment date, else open; paid (not late) "
                "when the file has neither this nor a payment-date column (see below)."
            ),
        ),
        Column(
            "paid_on",
            Kind.DATE,
            aliases=("paid_at", "paid_date", "payment_date", "date_paid"),
        ),
    ),
    key=("external_id",),
    doc="Invoices (a billing export).",
)

NPS = Entity(
    "nps",
    NpsResponse,
    ("nps", "nps_responses", "nps_response", "survey_responses"),
    (
        Column(
            "external_id",
            aliases=("id", "response_id"),
            doc="Your system's id; re-importing the same id updates the row. Defaults to "
            "`nps:<account>:<day>` (see below).",
        ),
        _account_ref(),
        Column(
            "contact_id",
            Kind.CONTACT,
            aliases=("respondent", "respondent_id", "email", "contact_email"),
            doc="A contact's external id or email.",
        ),
        Column(
            "responded_on",
            Kind.DATE,
            required=True,
            aliases=("date", "responded_at", "submitted_at", "created_at"),
        ),
        Column("score", Kind.INT, required=True, aliases=("nps", "rating"), minimum=0, maximum=10),
        Column("comment", aliases=("feedback", "text")),
    ),
    key=("external_id",),
    doc="NPS survey responses.",
)

RENEWALS = Entity(
    "renewals",
    Renewal,
    ("renewals", "renewal"),
    (
        _external_id("renewal_id", "opportunity_id"),
        _account_ref(),
        Column("renewal_date", Kind.DATE, required=True, aliases=("date", "close_date")),
        Column(
            "outcome",
            Kind.ENUM,
            aliases=("result", "status"),
            enum=RenewalOutcome,
            synonyms={
                "open": "pending",
                "won": "renewed",
                "closed_won": "renewed",
                "lost": "churned",
                "closed_lost": "churned",
                "upsell": "expanded",
                "downsell": "contracted",
            },
            doc="Default pending.",
        ),
        Column("decided_on", Kind.DATE, aliases=("closed_on", "decided_at")),
        Column(
            "arr_before", Kind.FLOAT, aliases=("previous_arr", "prior_arr"), minimum=_NON_NEGATIVE
        ),
        Column("arr_after", Kind.FLOAT, aliases=("new_arr",), minimum=_NON_NEGATIVE),
    ),
    key=("external_id",),
    doc="Renewal events and their outcomes.",
)

SUBSCRIPTIONS = Entity(
    "subscriptions",
    None,
    ("subscriptions", "subscription", "billing_periods", "billing_period"),
    (
        _account_ref(),
        Column("product", aliases=("plan", "plan_name", "product_name")),
        Column(
            "start_date",
            Kind.DATE,
            required=True,
            aliases=("start", "period_start", "current_period_start"),
        ),
        Column(
            "end_date",
            Kind.DATE,
            required=True,
            aliases=("end", "period_end", "current_period_end"),
        ),
        Column(
            "mrr",
            Kind.FLOAT,
            required=True,
            aliases=("monthly_recurring_revenue", "monthly_amount"),
            minimum=_NON_NEGATIVE,
            doc="Monthly recurring revenue of the period, as billed (after discount).",
        ),
        Column(
            "quantity",
            Kind.INT,
            aliases=("seats", "licenses"),
            minimum=_NON_NEGATIVE,
            doc="Seats; summed over the periods active at once.",
        ),
    ),
    key=("account_id", "product", "start_date"),
    doc="Billing periods (a billing export): derives contract fields and renewals.",
)

# Import order: parents before children; subscriptions only feed derivations.
ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        ACCOUNTS,
        CONTACTS,
        USAGE,
        EVENTS,
        FEATURES,
        TICKETS,
        NOTES,
        INVOICES,
        NPS,
        RENEWALS,
        SUBSCRIPTIONS,
    )
}

# Files commonly found next to these exports, named so the skip line can say why.
KNOWN_NON_ENTITIES: dict[str, str] = {
    "account_churn": "churn labels; outcomes are derived from subscriptions or renewals",
    "churn": "churn labels; outcomes are derived from subscriptions or renewals",
    "observation": "backtest labels; pass it to `keel backtest --observations`",
    "observations": "backtest labels; pass it to `keel backtest --observations`",
    "event_type": "an event-name lookup; event names are read from the events file",
    "event_types": "an event-name lookup; event names are read from the events file",
}

_FILE_NAME_TO_ENTITY: dict[str, str] = {
    stem: e.name for e in ENTITIES.values() for stem in e.file_names
}


def entity_for_stem(stem: str) -> Entity | None:
    """The entity a file stem names (``"event_daily"`` -> events), or ``None``."""
    name = _FILE_NAME_TO_ENTITY.get(normalise_header(stem))
    return ENTITIES[name] if name else None


def normalise_header(text: str) -> str:
    """Headers and stems compare lower-case with ``_`` for spaces and hyphens."""
    return "_".join(text.strip().lower().replace("-", " ").split())


def render_markdown(entity: Entity) -> str:
    """The column table for ``entity`` as it appears in docs/import-format.md."""
    lines = [
        "| column | type | required | allowed values | also accepted as | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for col in entity.columns:
        allowed = ", ".join(col.choices)
        if col.synonyms:
            allowed += " (also " + ", ".join(f"{k}→{v}" for k, v in col.synonyms.items()) + ")"
        if col.minimum is not None or col.maximum is not None:
            lo = "" if col.minimum is None else f"≥ {col.minimum:g}"
            hi = "" if col.maximum is None else f"≤ {col.maximum:g}"
            allowed = ", ".join(x for x in (lo, hi) if x)
        lines.append(
            f"| `{col.name}` | {col.kind.value} | {'yes' if col.required else 'no'} "
            f"| {allowed} | {', '.join(f'`{a}`' for a in col.aliases)} | {col.doc} |"
        )
    return "\n".join(lines)


def reference_markdown() -> str:
    """Every entity's section of docs/import-format.md (files, key, column table)."""
    sections = []
    for entity in ENTITIES.values():
        files = ", ".join(f"`{n}`" for n in entity.file_names)
        key = ", ".join(f"`{k}`" for k in entity.key)
        if entity.table is None:
            key_line = f"Rows must be unique by {key}; they are not stored as such (see below)."
        else:
            key_line = (
                f"Key (unique within a file; a re-import updates the row with the same key): {key}."
            )
        sections.append(
            f"### {entity.name}\n\n{entity.doc}\n\nFile names: {files}. {key_line}\n\n"
            f"{render_markdown(entity)}\n"
        )
    return "\n".join(sections)
