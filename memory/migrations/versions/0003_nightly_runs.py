"""Nightly runs: a record per (run kind, as-of date) and one row per account of a run.

Tables of :mod:`keel.memory.runs`, written by the nightly review
(:mod:`keel.api.services.nightly`). New tables only: no existing row is touched.

Revision ID: 0003_nightly_runs
Revises: 0002_scored_book
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_nightly_runs"
down_revision: str | None = "0002_scored_book"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "nightly_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("model_label", sa.String(length=256), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=True),
        sa.Column("accounts_total", sa.Integer(), nullable=False),
        sa.Column("accounts_done", sa.Integer(), nullable=False),
        sa.Column("accounts_skipped", sa.Integer(), nullable=False),
        sa.Column("accounts_failed", sa.Integer(), nullable=False),
        sa.Column("accounts_capped", sa.Integer(), nullable=False),
        sa.Column("drafts_proposed", sa.Integer(), nullable=False),
        sa.Column("actions_sent", sa.Integer(), nullable=False),
        sa.Column("model_calls", sa.Integer(), nullable=False),
        sa.Column("model_tokens", sa.Integer(), nullable=False),
        sa.Column("phases_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "as_of", name="uq_nightly_run_key"),
    )
    op.create_table(
        "nightly_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("owner_csm", sa.String(length=256), nullable=False),
        sa.Column("thread_id", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("drafts", sa.Integer(), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("model_calls", sa.Integer(), nullable=False),
        sa.Column("model_tokens", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["nightly_run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "account_id", name="uq_nightly_run_account"),
    )
    with op.batch_alter_table("nightly_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nightly_account_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nightly_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nightly_account_run_id"))

    op.drop_table("nightly_account")
    op.drop_table("nightly_run")
