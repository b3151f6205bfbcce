"""The scored book: a snapshot per as-of date, and each account's health and hypotheses.

Tables of :mod:`keel.memory.snapshots`, written by the scoring job
(:mod:`keel.tools.health.snapshot`) and read by the priority list, ``keel health`` and the
analyst's tools. New tables only: no existing row is touched. A table already present
(a database made by ``create_all`` while this revision was being written) is left as it
is, as the baseline does.

Revision ID: 0002_scored_book
Revises: 0001_baseline
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0002_scored_book"
down_revision: str | None = "0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def _create_book_snapshot() -> None:
    op.create_table(
        "book_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("model_kind", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_accounts", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("text_evidence", sa.Boolean(), nullable=False),
        sa.Column("flag_rule", sa.Text(), nullable=False),
        sa.Column("model_info_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("as_of", "horizon_days", "model_kind", name="uq_book_snapshot_key"),
    )


def _create_account_health() -> None:
    op.create_table(
        "account_health",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("owner_csm", sa.String(length=256), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("logit", sa.Float(), nullable=False),
        sa.Column("percentile", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("risk_rank", sa.Integer(), nullable=False),
        sa.Column("expansion_rank", sa.Integer(), nullable=True),
        sa.Column("arr", sa.Float(), nullable=False),
        sa.Column("arr_at_risk", sa.Float(), nullable=False),
        sa.Column("urgency", sa.Float(), nullable=False),
        sa.Column("priority_score", sa.Float(), nullable=False),
        sa.Column("days_to_renewal", sa.Integer(), nullable=True),
        sa.Column("renewal_date", sa.Date(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flag", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expansion_score", sa.Float(), nullable=False),
        sa.Column("expansion_reason", sa.Text(), nullable=False),
        sa.Column("next_renewal_external_id", sa.String(length=128), nullable=True),
        sa.Column("next_renewal_date", sa.Date(), nullable=True),
        sa.Column("explanation_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["snapshot_id"], ["book_snapshot.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("snapshot_id", "account_id", name="uq_account_health_snapshot_account"),
    )
    op.create_index(
        "ix_account_health_snapshot_id", "account_health", ["snapshot_id"], unique=False
    )


def _create_account_hypotheses() -> None:
    op.create_table(
        "account_hypotheses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("hypotheses_json", sa.Text(), nullable=False),
        sa.Column("similar_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["snapshot_id"], ["book_snapshot.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "snapshot_id", "account_id", name="uq_account_hypotheses_snapshot_account"
        ),
    )
    op.create_index(
        "ix_account_hypotheses_snapshot_id", "account_hypotheses", ["snapshot_id"], unique=False
    )


# Parents before children (foreign keys).
_TABLES: tuple[tuple[str, Callable[[], None]], ...] = (
    ("book_snapshot", _create_book_snapshot),
    ("account_health", _create_account_health),
    ("account_hypotheses", _create_account_hypotheses),
)


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in _TABLES:
        if name not in present:
            create()


def downgrade() -> None:
    for name, _create in reversed(_TABLES):
        op.drop_table(name)
