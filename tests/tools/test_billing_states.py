"""Payment problems by the billing export's own account, imported through ``keel import``.

Each invoice shape a billing tool exports (paid with or without a payment date, paid
late, open past due, overdue, failed, void, refunded) goes through ``import_path`` into a
real SQLite database, then through the real signal path (``load_book`` and
``compute_signals``), the hypotheses' evidence and the analyst's billing tool, as of
several dates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from keel.memory.importers import import_path
from keel.tools.account_tools import AccountReader, AccountScope
from keel.tools.health.explain import FactorContribution
from keel.tools.hypotheses import _Evidence, _risk_hypothesis
from keel.tools.signals import compute_signals, day_number, load_book

DUE = dt.date(2024, 3, 31)
BEFORE_DUE = dt.date(2024, 3, 20)
AFTER_DUE = dt.date(2024, 4, 10)
LATER = dt.date(2024, 6, 30)

# account -> (status, paid date): one invoice each, 35,000 due on DUE.
SHAPES: dict[str, tuple[str, str]] = {
    "paid-no-date": ("paid", ""),
    "paid-on-time": ("paid", "2024-03-25"),
    "paid-late": ("paid", "2024-04-20"),
    "open-past-due": ("open", ""),
    "overdue": ("Past Due", ""),
    "failed": ("failed", ""),
    "void": ("void", ""),
    "refunded": ("refunded", ""),
    "status-only-paid": ("Paid", ""),
    "no-status-paid-date": ("", "2024-03-30"),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and (when configured) on PostgreSQL."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return engine


@pytest.fixture()
def billed(store: Engine, tmp_path: Path) -> Engine:
    engine = store
    folder = tmp_path / "export"
    folder.mkdir()
    accounts = "id,name,arr\n" + "".join(f"{a},{a},420000\n" for a in SHAPES)
    invoices = "invoice_number,customer_id,due_date,total,status,paid_at\n" + "".join(
        f'INV-{a},{a},{DUE},"$35,000",{status},{paid}\n' for a, (status, paid) in SHAPES.items()
    )
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    (folder / "invoices.csv").write_text(invoices, encoding="utf-8")
    import_path(engine, folder)
    return engine


def billing_signals(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    book = load_book(engine, until=as_of)
    ids = book.accounts["account_id"].to_numpy()
    frame = compute_signals(book, ids, np.full(len(ids), day_number(as_of)))
    names = dict(zip(book.accounts["account_id"], book.accounts["external_id"], strict=True))
    frame.index = frame["account_id"].map(names)
    return frame[["payment_problems", "overdue_invoices"]].astype(int)


def test_late_means_late_by_the_exports_own_account(billed: Engine) -> None:
    now = billing_signals(billed, LATER)
    assert now.to_dict("index") == {
        "paid-no-date": {"payment_problems": 0, "overdue_invoices": 0},
        "paid-on-time": {"payment_problems": 0, "overdue_invoices": 0},
        "paid-late": {"payment_problems": 1, "overdue_invoices": 0},
        "open-past-due": {"payment_problems": 1, "overdue_invoices": 1},
        "overdue": {"payment_problems": 1, "overdue_invoices": 1},
        "failed": {"payment_problems": 1, "overdue_invoices": 1},
        "void": {"payment_problems": 0, "overdue_invoices": 0},
        "refunded": {"payment_problems": 0, "overdue_invoices": 0},
        "status-only-paid": {"payment_problems": 0, "overdue_invoices": 0},
        "no-status-paid-date": {"payment_problems": 0, "overdue_invoices": 0},
    }


def test_billing_signals_are_point_in_time(billed: Engine) -> None:
    before = billing_signals(billed, BEFORE_DUE)
    assert before.to_numpy().sum() == 0  # nothing is due yet
    between = billing_signals(billed, AFTER_DUE)
    # Paid on 2024-04-20: as of 2024-04-10 that payment is not known; the invoice is overdue.
    assert between.loc["paid-late"].to_dict() == {"payment_problems": 1, "overdue_invoices": 1}
    assert between.loc["paid-no-date"].to_dict() == {"payment_problems": 0, "overdue_invoices": 0}
    assert between.loc["void"].to_dict() == {"payment_problems": 0, "overdue_invoices": 0}


def _billing_evidence(engine: Engine, account: str, as_of: dt.date) -> list[str]:
    book = load_book(engine, until=as_of)
    account_id = int(book.accounts.set_index("external_id").at[account, "account_id"])
    factor = FactorContribution(
        factor="billing",
        label="Billing",
        contribution=1.0,
        direction="raises risk",
        text="late or failed payments",
    )
    hypothesis = _risk_hypothesis(factor, _Evidence(book, account_id, as_of), account, 1, book)
    # No late or unpaid invoice: no billing hypothesis at all (a claim needs its evidence).
    return [r.summary for r in hypothesis.records] if hypothesis is not None else []


def test_a_paid_invoice_is_never_stated_late(billed: Engine) -> None:
    # The brief's false fact: "invoice of 35,000 ... late" for an account that paid.
    assert _billing_evidence(billed, "paid-no-date", LATER) == []
    assert _billing_evidence(billed, "void", LATER) == []
    assert _billing_evidence(billed, "paid-late", LATER) == [
        "invoice of $35,000 due 2024-03-31: paid 20 days late"
    ]
    assert _billing_evidence(billed, "paid-late", AFTER_DUE) == [
        "invoice of $35,000 due 2024-03-31: unpaid, 10 days past due"
    ]
    assert _billing_evidence(billed, "open-past-due", LATER) == [
        "invoice of $35,000 due 2024-03-31: unpaid, 91 days past due"
    ]


def test_the_analysts_billing_tool_reads_the_same_rule(billed: Engine) -> None:
    reader = AccountReader(billed)
    book = load_book(billed)
    ids = dict(zip(book.accounts["external_id"], book.accounts["account_id"], strict=True))

    def state(account: str, as_of: dt.date) -> tuple[str, list[str]]:
        out = reader.renewal_and_billing(AccountScope(int(ids[account]), as_of))
        return out["invoices"][0]["status"], [b["id"] for b in out["billing_issues"]]

    assert state("paid-no-date", LATER) == ("paid", [])
    assert state("paid-no-date", BEFORE_DUE) == ("open", [])
    assert state("void", LATER) == ("void", [])
    assert state("refunded", LATER) == ("void", [])
    assert state("paid-late", AFTER_DUE) == ("late", ["invoice:INV-paid-late"])
    assert state("paid-late", LATER) == ("paid", [])
    assert state("failed", LATER) == ("failed", ["invoice:INV-failed"])
    assert state("open-past-due", LATER) == ("late", ["invoice:INV-open-past-due"])
