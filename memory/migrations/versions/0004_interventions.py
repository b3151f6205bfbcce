"""Interventions and their outcomes; a generation per nightly run.

- ``intervention_record``: one per sent action, with the signal that prompted it, who
  approved it and whether the AI-led tier sent it alone; ``intervention_outcome``: what
  happened within 30/60/90 days (:mod:`keel.memory.interventions`).
- ``nightly_run.generation`` (part of every account's thread id, new when the book was
  replaced) and ``nightly_account.account_name``. Existing rows get '' (a run made before
  keeps its old thread ids, so a night interrupted before the upgrade resumes as it was).

Revision ID: 0004_interventions
Revises: 0003_nightly_runs
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_interventions"
down_revision: str | None = "0003_nightly_runs"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("nightly_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.String(length=16), nullable=False, server_default="")
        )
    with op.batch_alter_table("nightly_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("account_name", sa.String(length=256), nullable=False, server_default="")
        )
    op.create_table(
        "intervention_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("owner_csm", sa.String(length=256), nullable=False),
        sa.Column("play_id", sa.String(length=64), nullable=False),
        sa.Column("play_kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("thread_id", sa.String(length=256), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=256), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("ai_led", sa.Boolean(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flag", sa.String(length=128), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_signal_on", sa.Date(), nullable=True),
        sa.Column("renewal_outcome", sa.String(length=16), nullable=False),
        sa.Column("renewal_decided_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["intervention.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("action_id"),
        sa.UniqueConstraint("intervention_id"),
    )
    with op.batch_alter_table("intervention_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_intervention_record_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_intervention_record_on"), ["on"], unique=False)
    op.create_table(
        "intervention_outcome",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("probability_after", sa.Float(), nullable=True),
        sa.Column("snapshots_seen", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["intervention_record.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "window_days", name="uq_intervention_outcome_window"),
    )
    with op.batch_alter_table("intervention_outcome", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_intervention_outcome_record_id"), ["record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("intervention_outcome", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intervention_outcome_record_id"))
    op.drop_table("intervention_outcome")
    with op.batch_alter_table("intervention_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intervention_record_on"))
        batch_op.drop_index(batch_op.f("ix_intervention_record_account_id"))
    op.drop_table("intervention_record")
    with op.batch_alter_table("nightly_account", schema=None) as batch_op:
        batch_op.drop_column("account_name")
    with op.batch_alter_table("nightly_run", schema=None) as batch_op:
        batch_op.drop_column("generation")
