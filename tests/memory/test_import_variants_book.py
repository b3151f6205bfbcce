"""A new user's export folder with every common variant at once, through ``keel import``.

The variants of issue 20 (issue date from the due date and terms, NPS ids from account
and date, ``$120,000``, a UTF-8 BOM, CRLF line ends) arrive together in one folder, as a
real export would bring them; the same folder with truly broken rows is refused whole,
each problem named by file, row and field. Then the invoice status an export leaves out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.errors import ValidationFailed
from keel.memory.db import make_engine
from keel.memory.importers import import_path
from keel.memory.models import Account, Invoice, InvoiceStatus, NpsResponse
from keel.settings import Settings
from tests.api.cli_support import keel

BOM = "\ufeff"


def _crlf(*lines: str) -> bytes:
    return (BOM + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _folder(root: Path, files: dict[str, bytes | str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (root / name).write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return root


def _good_export(root: Path) -> Path:
    return _folder(
        root,
        {
            "Customers.csv": _crlf(
                "Customer ID,Company Name,ARR,Tier",
                'C-1,"Acme, Inc.","$120,000",Enterprise',
                'C-2,Beta GmbH,"90,500.50",mid-market',
            ),
            "Invoices.csv": _crlf(
                "Invoice Number,Customer ID,Due Date,Terms,Total,Status",
                'INV-1,C-1,2024-03-31,Net 45,"$10,000",Paid',
                'INV-2,C-1,2024-04-30,,"$10,000",Past Due',
                "INV-3,C-2,2024-04-15,due on receipt,$99.90,open",
            ),
            "nps.csv": _crlf(
                "Account ID,Date,Score,Comment",
                "C-1,2024-03-01,9,Great",
                "C-1,2024-03-01,6,Slow exports",
                "C-2,2024-03-02,3,",
            ),
        },
    )


@pytest.fixture()
def cli_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    data = tmp_path / "keel-data"
    monkeypatch.setenv("KEEL_DATA_DIR", str(data))
    return make_engine(Settings(data_dir=data).resolved_database_url)


def _stored(engine: Engine) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    with Session(engine) as session:
        accounts: dict[str, Any] = {
            a.external_id: (a.name, a.arr, str(a.segment)) for a in session.exec(select(Account))
        }
        invoices: dict[str, Any] = {
            i.external_id: (i.issued_on, i.amount, i.status) for i in session.exec(select(Invoice))
        }
        nps: dict[str, Any] = {r.external_id: r.score for r in session.exec(select(NpsResponse))}
    return accounts, invoices, nps


def test_every_variant_in_one_export_imports_and_reimports_in_place(
    cli_workspace: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _good_export(tmp_path / "export")
    code, out = keel(capsys, monkeypatch, "import", str(folder))
    assert code == 0, out
    accounts, invoices, nps = _stored(cli_workspace)
    assert accounts == {
        "C-1": ("Acme, Inc.", 120000.0, "enterprise"),
        "C-2": ("Beta GmbH", 90500.5, "mid_market"),
    }
    assert invoices == {
        "INV-1": (dt.date(2024, 2, 15), 10000.0, InvoiceStatus.PAID),  # Net 45
        "INV-2": (dt.date(2024, 3, 31), 10000.0, InvoiceStatus.LATE),  # no terms: 30 days
        "INV-3": (dt.date(2024, 4, 15), 99.9, InvoiceStatus.OPEN),  # due on receipt
    }
    assert nps == {"nps:C-1:2024-03-01": 9, "nps:C-1:2024-03-01:2": 6, "nps:C-2:2024-03-02": 3}
    # The same export next week: every row matched and updated, nothing added.
    code, out = keel(capsys, monkeypatch, "import", str(folder))
    assert code == 0, out
    assert _stored(cli_workspace) == (accounts, invoices, nps)


def test_truly_broken_rows_are_refused_whole_with_file_row_and_field(
    cli_workspace: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _good_export(tmp_path / "export")
    _folder(
        folder,
        {
            "Invoices.csv": _crlf(
                "Invoice Number,Customer ID,Invoice Date,Due Date,Terms,Total,Status",
                'INV-1,C-1,,2024-03-31,Net 45,"$10,000",Paid',
                'INV-2,C-1,2024-05-02,2024-04-30,,"$10,000",Past Due',  # issued after due
                "INV-3,C-2,,,30,$99.90,open",  # no due date: nothing to default from
                "INV-4,C-2,,2024-04-30,Net thirty,$5,open",
                "INV-5,C-2,,2024-04-30,30,$,open",
            ),
            "nps.csv": _crlf("Account ID,Date,Score", "C-1,,9"),
        },
    )
    code, out = keel(capsys, monkeypatch, "import", str(folder))
    text = " ".join(out.split())
    assert code != 0
    for problem in (
        "Invoices.csv, row 3, field 'Invoice Date': issue date 2024-05-02 is after the due date",
        "Invoices.csv, row 4, field 'Due Date': is empty but a value is required",
        "Invoices.csv, row 5, field 'Terms': 'Net thirty' is not payment terms",
        "Invoices.csv, row 6, field 'Total': '$' is not",
        "nps.csv, row 2, field 'Date': is empty but a value is required",
    ):
        assert problem in text, problem
    assert "Traceback" not in out
    # All or nothing: the valid customers file was not written either.
    assert _stored(cli_workspace) == ({}, {}, {})


# --- the invoice status an export leaves out -------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and (when configured) on PostgreSQL."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return engine


def _statuses(engine: Engine) -> dict[str, InvoiceStatus]:
    with Session(engine) as session:
        return {i.external_id: i.status for i in session.exec(select(Invoice))}


def _invoices(engine: Engine, root: Path, body: str) -> None:
    import_path(engine, _folder(root, {"accounts.csv": "id\nA1\n", "invoices.csv": body}))


def test_a_payment_date_alone_means_paid(store: Engine, tmp_path: Path) -> None:
    _invoices(
        store,
        tmp_path / "x",
        "id,account_id,due_on,amount,paid_on\nI1,A1,2024-03-31,10,2024-03-29\nI2,A1,2024-04-30,10,\n",
    )
    assert _statuses(store) == {"I1": InvoiceStatus.PAID, "I2": InvoiceStatus.OPEN}


def test_an_empty_status_cell_follows_the_payment_date(store: Engine, tmp_path: Path) -> None:
    _invoices(
        store,
        tmp_path / "x",
        "id,account_id,due_on,amount,status,paid_on\n"
        "I1,A1,2024-03-31,10,,2024-03-29\n"
        "I2,A1,2024-04-30,10,,\n"
        "I3,A1,2024-04-30,10,failed,\n",
    )
    assert _statuses(store) == {
        "I1": InvoiceStatus.PAID,
        "I2": InvoiceStatus.OPEN,
        "I3": InvoiceStatus.FAILED,
    }


def test_no_payment_column_means_nothing_is_late(store: Engine, tmp_path: Path) -> None:
    _invoices(store, tmp_path / "x", "id,account_id,due_on,amount\nI1,A1,2024-03-31,10\n")
    assert _statuses(store) == {"I1": InvoiceStatus.PAID}
    report = import_path(store, tmp_path / "x")
    assert any("no status or payment-date column" in line for line in report.skipped)


def test_a_stored_status_is_kept_by_an_export_without_one(store: Engine, tmp_path: Path) -> None:
    _invoices(
        store, tmp_path / "a", "id,account_id,due_on,amount,status\nI1,A1,2024-03-31,10,late\n"
    )
    # A later export with amounts only: the stored state is not overwritten with a default.
    _invoices(store, tmp_path / "b", "id,account_id,due_on,amount\nI1,A1,2024-03-31,12\n")
    assert _statuses(store) == {"I1": InvoiceStatus.LATE}


def test_an_nps_id_given_to_one_row_is_never_generated_for_another(
    engine: Engine, tmp_path: Path
) -> None:
    # Row 3 has no id; the one it would get is row 2's (a response of the next day): two
    # responses would become one row. Refused, naming the row, and nothing is written.
    folder = _folder(
        tmp_path / "x",
        {
            "accounts.csv": "id\nA1\n",
            "nps.csv": "id,account_id,date,score\n"
            "nps:A1:2024-03-01,A1,2024-03-02,9\n"
            ",A1,2024-03-01,4\n",
        },
    )
    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, folder)
    assert [str(p) for p in caught.value.problems] == [
        "nps.csv, row 3, field 'id': is empty, and the id it would get (nps:A1:2024-03-01) "
        "is another row's id; give it an id"
    ]
    with Session(engine) as session:
        assert session.exec(select(NpsResponse)).all() == []


def test_amounts_with_iso_currency_codes(engine: Engine, tmp_path: Path) -> None:
    body = 'id,arr\nA1,"USD 120,000"\nA2,1200.50 USD\nA3,"US$ 99"\nA4,$5\n'
    import_path(engine, _folder(tmp_path / "x", {"accounts.csv": body}))
    with Session(engine) as session:
        got = {a.external_id: a.arr for a in session.exec(select(Account))}
    assert got == {"A1": 120000.0, "A2": 1200.5, "A3": 99.0, "A4": 5.0}


def test_amounts_in_two_currencies_are_refused(engine: Engine, tmp_path: Path) -> None:
    # ARR adds up across accounts: dollars and euros in one column cannot be summed.
    body = 'id,arr\nA1,"$1,200"\nA2,€5\nA3,7\nA4,USD 9\nA5,ABC 1\n'
    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, _folder(tmp_path / "x", {"accounts.csv": body}))
    assert [str(p) for p in caught.value.problems] == [
        "accounts.csv, row 3, field 'arr': '€5' is in another currency than the column's "
        "first amount (USD); Keel does not convert currencies: give every amount of a "
        "column in one currency",
        "accounts.csv, row 6, field 'arr': 'ABC 1' is not a number",
    ]
