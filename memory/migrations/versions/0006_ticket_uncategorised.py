"""Tickets without a category: ``ticketcategory`` gains ``UNCATEGORISED`` (issue 20).

An export that gives no category stores "uncategorised" instead of a guessed "how to".
On PostgreSQL the enum type gains the value (``IF NOT EXISTS``: a database made by a
baseline that already had it is left alone); so does ``invoicestatus`` gain ``VOID``,
which databases made before it was added to the baseline lack. SQLite stores enum names
as text: nothing to do.

Revision ID: 0006_ticket_uncategorised
Revises: 0005_open_risk
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006_ticket_uncategorised"
down_revision: str | None = "0005_open_risk"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TYPE ticketcategory ADD VALUE IF NOT EXISTS 'UNCATEGORISED'")
    op.execute("ALTER TYPE invoicestatus ADD VALUE IF NOT EXISTS 'VOID'")


def downgrade() -> None:
    # PostgreSQL cannot drop a value from an enum type; the value stays, unused.
    pass
