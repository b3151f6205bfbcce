"""The priority list's open-risk reason stored with each scored account.

- ``account_health.open_risk``: why the account has an open risk (flagged, risk above the
  book's mean, risk language in the last 90 days, a departed champion, a recent loss), ""
  when it has none. The priority list keeps such an account out of its expansion picks and
  the planner refuses it growth plays: one rule (``keel.tools.health.ranking.open_risks``)
  read by both. Existing rows get "" until their snapshot is scored again (the scoring
  version changed with it, so the next read rescores).

Revision ID: 0005_open_risk
Revises: 0004_interventions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_open_risk"
down_revision: str | None = "0004_interventions"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_health", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_risk", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("account_health", schema=None) as batch_op:
        batch_op.drop_column("open_risk")
