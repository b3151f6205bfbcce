"""Baseline: the schema Keel's ``create_all`` made before migrations existed.

Written out table by table (not ``metadata.create_all``) so a later model change never
changes what this revision creates: a change to a table is a new revision on top.

A database made by the old ``create_all`` has these tables but no ``alembic_version``:
:func:`keel.memory.migrations.runner.upgrade` adopts it by running this revision, which
creates only the tables that are missing (a database from an older Keel may lack a
table added since) and leaves the others, and their rows, as they are.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_baseline"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _enum(name: str, *values: str) -> postgresql.ENUM:
    # SQLModel maps a StrEnum field to ``sa.Enum`` of the member *names*: a named ENUM type
    # on PostgreSQL, VARCHAR(longest name) on SQLite. The types are created apart (see
    # ``_create_enum_types``) so adopting a database that already has them does not fail.
    return postgresql.ENUM(*values, name=name, create_type=False)


_SEGMENT = _enum("segment", "SMB", "MID_MARKET", "ENTERPRISE")
_PRICINGMODEL = _enum("pricingmodel", "SEAT", "USAGE", "OUTCOME")
_LIFECYCLESTAGE = _enum("lifecyclestage", "ONBOARDING", "ADOPTION", "MATURE", "RENEWAL", "CHURNED")
_CONTACTROLE = _enum("contactrole", "CHAMPION", "EXECUTIVE_SPONSOR", "ADMIN", "USER")
_INVOICESTATUS = _enum("invoicestatus", "PAID", "OPEN", "LATE", "FAILED", "VOID")
_RENEWALOUTCOME = _enum("renewaloutcome", "PENDING", "RENEWED", "EXPANDED", "CONTRACTED", "CHURNED")
_TICKETPRIORITY = _enum("ticketpriority", "LOW", "NORMAL", "HIGH", "URGENT")
_TICKETCATEGORY = _enum(
    "ticketcategory", "BUG", "HOW_TO", "BILLING", "FEATURE_REQUEST", "OUTAGE", "ACCOUNT", "QUALITY"
)
_TICKETSTATUS = _enum("ticketstatus", "OPEN", "PENDING", "SOLVED", "CLOSED")


def _create_account() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("industry", sa.String(length=128), nullable=False),
        sa.Column("segment", _SEGMENT, nullable=False),
        sa.Column("arr", sa.Float(), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("pricing_model", _PRICINGMODEL, nullable=False),
        sa.Column("contract_start", sa.Date(), nullable=True),
        sa.Column("renewal_date", sa.Date(), nullable=True),
        sa.Column("owner_csm", sa.String(length=128), nullable=False),
        sa.Column("lifecycle_stage", _LIFECYCLESTAGE, nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("seats_purchased", sa.Integer(), nullable=True),
        sa.Column("outcome_unit", sa.String(length=64), nullable=False),
        sa.Column("outcome_ceiling_monthly", sa.Float(), nullable=True),
        sa.Column("created_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_account_external_id", "account", ["external_id"], unique=True)
    op.create_index("ix_account_owner_csm", "account", ["owner_csm"], unique=False)
    op.create_index("ix_account_renewal_date", "account", ["renewal_date"], unique=False)
    op.create_index("ix_account_segment", "account", ["segment"], unique=False)


def _create_health_model() -> None:
    op.create_table(
        "health_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fitted_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("train_start", sa.Date(), nullable=True),
        sa.Column("train_end", sa.Date(), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("n_positive", sa.Integer(), nullable=False),
        sa.Column("calibration_ece", sa.Float(), nullable=True),
        sa.Column("calibration_n", sa.Integer(), nullable=False),
        sa.Column("feature_schema", sa.String(length=64), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_health_model_lookup",
        "health_model",
        ["name", "horizon_days", "fitted_on"],
        unique=False,
    )


def _create_risk_language_match() -> None:
    op.create_table(
        "risk_language_match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.Column("prototype_version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_kind", "source_id", "label", name="uq_risk_match_source_label"),
    )
    op.create_index(
        "ix_risk_language_match_account_id", "risk_language_match", ["account_id"], unique=False
    )
    op.create_index(
        "ix_risk_match_account_day", "risk_language_match", ["account_id", "day"], unique=False
    )


def _create_risk_language_scan() -> None:
    op.create_table(
        "risk_language_scan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prototype_version", sa.String(length=64), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_documents", sa.Integer(), nullable=False),
        sa.Column("n_matches", sa.Integer(), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_risk_language_scan_prototype_version",
        "risk_language_scan",
        ["prototype_version"],
        unique=False,
    )


def _create_vector_index_state() -> None:
    op.create_table(
        "vector_index_state",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("n_chunks", sa.Integer(), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "source_id"),
    )


def _create_call_note() -> None:
    op.create_table(
        "call_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("attendees", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_note_account_id", "call_note", ["account_id"], unique=False)
    op.create_index("ix_call_note_external_id", "call_note", ["external_id"], unique=True)
    op.create_index("ix_call_note_occurred_on", "call_note", ["occurred_on"], unique=False)


def _create_contact() -> None:
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("role", _CONTACTROLE, nullable=False),
        sa.Column("last_engagement", sa.Date(), nullable=True),
        sa.Column("left_company", sa.Boolean(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("added_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_account_id", "contact", ["account_id"], unique=False)
    op.create_index("ix_contact_external_id", "contact", ["external_id"], unique=True)


def _create_crm_task() -> None:
    op.create_table(
        "crm_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("assignee", sa.String(length=256), nullable=False),
        sa.Column("title", sa.String(length=998), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("play_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_crm_task_account_id", "crm_task", ["account_id"], unique=False)
    op.create_index("ix_crm_task_action_id", "crm_task", ["action_id"], unique=False)


def _create_feature_adoption() -> None:
    op.create_table(
        "feature_adoption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "feature", "day", name="uq_feature_account_day"),
    )
    op.create_index(
        "ix_feature_adoption_account_id", "feature_adoption", ["account_id"], unique=False
    )
    op.create_index(
        "ix_feature_adoption_external_id", "feature_adoption", ["external_id"], unique=True
    )


def _create_invoice() -> None:
    op.create_table(
        "invoice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("status", _INVOICESTATUS, nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invoice_account_id", "invoice", ["account_id"], unique=False)
    op.create_index("ix_invoice_external_id", "invoice", ["external_id"], unique=True)


def _create_product_event_daily() -> None:
    op.create_table(
        "product_event_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_name", sa.String(length=128), nullable=False),
        sa.Column("n_events", sa.Integer(), nullable=False),
        sa.Column("n_users", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "day", "event_name", name="uq_event_account_day_name"),
    )
    op.create_index("ix_event_day", "product_event_daily", ["day"], unique=False)


def _create_renewal() -> None:
    op.create_table(
        "renewal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("renewal_date", sa.Date(), nullable=False),
        sa.Column("outcome", _RENEWALOUTCOME, nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("arr_before", sa.Float(), nullable=False),
        sa.Column("arr_after", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_renewal_account_id", "renewal", ["account_id"], unique=False)
    op.create_index("ix_renewal_external_id", "renewal", ["external_id"], unique=True)


def _create_usage_daily() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("active_users", sa.Integer(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("key_feature_events", sa.Integer(), nullable=False),
        sa.Column("outcome_count", sa.Integer(), nullable=False),
        sa.Column("outcome_quality", sa.Float(), nullable=True),
        sa.Column("seats_purchased", sa.Integer(), nullable=True),
        sa.Column("seats_used", sa.Integer(), nullable=True),
        sa.Column("active_teams", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "day", name="uq_usage_account_day"),
    )
    op.create_index("ix_usage_day", "usage_daily", ["day"], unique=False)


def _create_nps_response() -> None:
    op.create_table(
        "nps_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("responded_on", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_nps_response_account_id", "nps_response", ["account_id"], unique=False)
    op.create_index("ix_nps_response_external_id", "nps_response", ["external_id"], unique=True)


def _create_proposed_action() -> None:
    op.create_table(
        "proposed_action",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("thread_id", sa.String(length=256), nullable=False),
        sa.Column("interrupt_id", sa.String(length=256), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("play_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("draft_kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_contact_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("proposed_payload_hash", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("produced_by_model", sa.String(length=256), nullable=False),
        sa.Column("policy_reasons", sa.JSON(), nullable=False),
        sa.Column("health_percentile", sa.Float(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("parent_action_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=256), nullable=True),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.Column("claimed_by", sa.String(length=256), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external_message_id", sa.String(length=512), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["parent_action_id"], ["proposed_action.id"]),
        sa.ForeignKeyConstraint(["recipient_contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.UniqueConstraint(
            "thread_id", "interrupt_id", "proposed_payload_hash", name="uq_action_proposal"
        ),
    )
    op.create_index(
        "ix_action_account_status", "proposed_action", ["account_id", "status"], unique=False
    )
    op.create_index("ix_proposed_action_status", "proposed_action", ["status"], unique=False)
    op.create_index("ix_proposed_action_thread_id", "proposed_action", ["thread_id"], unique=False)


def _create_ticket() -> None:
    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("requester_contact_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("priority", _TICKETPRIORITY, nullable=False),
        sa.Column("category", _TICKETCATEGORY, nullable=False),
        sa.Column("status", _TICKETSTATUS, nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["requester_contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_account_id", "ticket", ["account_id"], unique=False)
    op.create_index("ix_ticket_external_id", "ticket", ["external_id"], unique=True)
    op.create_index("ix_ticket_opened_at", "ticket", ["opened_at"], unique=False)


def _create_action_decision() -> None:
    op.create_table(
        "action_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=256), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload_hash_before", sa.String(length=64), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("edited_payload", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("message", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["proposed_action.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_action_decision_action_id", "action_decision", ["action_id"], unique=False)


def _create_delivery_attempt() -> None:
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=64), nullable=False),
        sa.Column("worker", sa.String(length=256), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("transport", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["proposed_action.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_delivery_attempt_action_id", "delivery_attempt", ["action_id"], unique=False
    )


def _create_intervention() -> None:
    op.create_table(
        "intervention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("play_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("draft_kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_contact_id", sa.Integer(), nullable=True),
        sa.Column("transport", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("external_message_id", sa.String(length=512), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.ForeignKeyConstraint(["action_id"], ["proposed_action.id"]),
        sa.ForeignKeyConstraint(["recipient_contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("action_id"),
    )
    op.create_index(
        "ix_intervention_account_sent", "intervention", ["account_id", "sent_at"], unique=False
    )


# Parents before children (foreign keys).
_TABLES: tuple[tuple[str, Callable[[], None]], ...] = (
    ("account", _create_account),
    ("health_model", _create_health_model),
    ("risk_language_match", _create_risk_language_match),
    ("risk_language_scan", _create_risk_language_scan),
    ("vector_index_state", _create_vector_index_state),
    ("call_note", _create_call_note),
    ("contact", _create_contact),
    ("crm_task", _create_crm_task),
    ("feature_adoption", _create_feature_adoption),
    ("invoice", _create_invoice),
    ("product_event_daily", _create_product_event_daily),
    ("renewal", _create_renewal),
    ("usage_daily", _create_usage_daily),
    ("nps_response", _create_nps_response),
    ("proposed_action", _create_proposed_action),
    ("ticket", _create_ticket),
    ("action_decision", _create_action_decision),
    ("delivery_attempt", _create_delivery_attempt),
    ("intervention", _create_intervention),
)
_ENUMS = (
    _SEGMENT,
    _PRICINGMODEL,
    _LIFECYCLESTAGE,
    _CONTACTROLE,
    _INVOICESTATUS,
    _RENEWALOUTCOME,
    _TICKETPRIORITY,
    _TICKETCATEGORY,
    _TICKETSTATUS,
)


def _create_enum_types(bind: sa.engine.Connection) -> None:
    if bind.dialect.name != "postgresql":
        return
    for enum in _ENUMS:
        postgresql.ENUM(*enum.enums, name=enum.name).create(bind, checkfirst=True)


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    _create_enum_types(bind)
    for name, create in _TABLES:
        if name not in present:
            create()


def downgrade() -> None:
    bind = op.get_bind()
    for name, _create in reversed(_TABLES):
        op.drop_table(name)
    if bind.dialect.name == "postgresql":
        for enum in _ENUMS:
            postgresql.ENUM(*enum.enums, name=enum.name).drop(bind, checkfirst=True)
