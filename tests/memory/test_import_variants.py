"""``keel import`` takes the common shapes of real exports, and still refuses broken ones.

Invoices without an issue date, NPS responses without an id, amounts written ``$120,000``
or ``120,000.50``, a UTF-8 BOM, CRLF line ends, billing-tool invoice states: each goes
through ``import_path`` (what ``keel import`` calls) on a real SQLite database and,
marked ``postgres``, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.errors import ValidationFailed
from keel.memory.importers import import_path
from keel.memory.models import Account, Invoice, InvoiceStatus, NpsResponse

ACCOUNTS = "id,name\nA1,Acme\nA2,Beta\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and (when configured) on PostgreSQL."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return engine


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


def invoices(engine: Engine) -> dict[str, Invoice]:
    with Session(engine) as session:
        return {i.external_id: i for i in session.exec(select(Invoice)).all()}


def nps_rows(engine: Engine) -> list[NpsResponse]:
    with Session(engine) as session:
        return list(session.exec(select(NpsResponse).order_by(NpsResponse.external_id)).all())


def problems(engine: Engine, folder: Path) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, folder)
    return [str(p) for p in caught.value.problems]


# --- invoices: issue date from the due date and terms; states; amounts ---------------------


def test_issue_date_defaults_from_due_date_and_terms(store: Engine, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "x",
        {
            "accounts.csv": ACCOUNTS,
            "invoices.csv": (
                "invoice_id,customer_id,due_date,terms,total,status\n"
                "I1,A1,2024-03-31,Net 45,100,paid\n"
                "I2,A1,2024-04-30,,100,paid\n"
                "I3,A1,2024-05-31,due on receipt,100,open\n"
                "I4,A2,2024-05-31,14,100,open\n"
            ),
        },
    )
    import_path(store, folder)
    got = {k: v.issued_on for k, v in invoices(store).items()}
    assert got == {
        "I1": dt.date(2024, 2, 15),
        "I2": dt.date(2024, 3, 31),  # no terms given: 30 days
        "I3": dt.date(2024, 5, 31),
        "I4": dt.date(2024, 5, 17),
    }


def test_issue_date_given_wins_and_a_stored_one_is_kept(store: Engine, tmp_path: Path) -> None:
    first = write(
        tmp_path / "a",
        {
            "accounts.csv": ACCOUNTS,
            "invoices.csv": (
                "id,account_id,issued_on,due_on,amount\nI1,A1,2024-03-01,2024-03-31,100\n"
            ),
        },
    )
    import_path(store, first)
    # A later export without issue dates updates the amount, not the stored issue date.
    again = write(
        tmp_path / "b",
        {"invoices.csv": "id,account_id,due_on,amount\nI1,A1,2024-03-31,150\n"},
    )
    import_path(store, again)
    stored = invoices(store)["I1"]
    assert (stored.issued_on, stored.amount) == (dt.date(2024, 3, 1), 150.0)


def test_bad_payment_terms_are_refused_with_file_row_and_field(
    store: Engine, tmp_path: Path
) -> None:
    folder = write(
        tmp_path / "x",
        {
            "accounts.csv": ACCOUNTS,
            "invoices.csv": "id,account_id,due_on,terms,amount\nI1,A1,2024-03-31,Net thirty,100\n",
        },
    )
    assert problems(store, folder) == [
        "invoices.csv, row 2, field 'terms': 'Net thirty' is not payment terms; expected a "
        "number of days or net terms, e.g. 30, Net 30 or due on receipt"
    ]
    assert invoices(store) == {}


def test_an_invoice_without_a_due_date_is_still_refused(store: Engine, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "x",
        {"accounts.csv": ACCOUNTS, "invoices.csv": "id,account_id,due_on,amount\nI1,A1,,100\n"},
    )
    assert problems(store, folder) == [
        "invoices.csv, row 2, field 'due_on': is empty but a value is required"
    ]


def test_billing_tool_invoice_states_map_onto_keels(store: Engine, tmp_path: Path) -> None:
    rows = [
        ("I1", "Paid", InvoiceStatus.PAID),
        ("I2", "succeeded", InvoiceStatus.PAID),
        ("I3", "Past Due", InvoiceStatus.LATE),
        ("I4", "overdue", InvoiceStatus.LATE),
        ("I5", "uncollectible", InvoiceStatus.FAILED),
        ("I6", "payment_failed", InvoiceStatus.FAILED),
        ("I7", "void", InvoiceStatus.VOID),
        ("I8", "Voided", InvoiceStatus.VOID),
        ("I9", "refunded", InvoiceStatus.VOID),
        ("I10", "cancelled", InvoiceStatus.VOID),
        ("I11", "pending", InvoiceStatus.OPEN),
        ("I12", "", InvoiceStatus.OPEN),
    ]
    body = "id,account_id,due_on,amount,invoice_status\n" + "".join(
        f"{ext},A1,2024-03-31,10,{status}\n" for ext, status, _ in rows
    )
    import_path(store, write(tmp_path / "x", {"accounts.csv": ACCOUNTS, "invoices.csv": body}))
    got = {k: v.status for k, v in invoices(store).items()}
    assert got == {ext: expected for ext, _, expected in rows}


def test_an_unknown_invoice_state_is_refused(store: Engine, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "x",
        {
            "accounts.csv": ACCOUNTS,
            "invoices.csv": "id,account_id,due_on,amount,status\nI1,A1,2024-03-31,10,lost\n",
        },
    )
    (problem,) = problems(store, folder)
    assert problem.startswith("invoices.csv, row 2, field 'status': 'lost' is not one of")
    assert "void" in problem


@pytest.mark.parametrize(
    ("cell", "amount"),
    [
        ('"$120,000"', 120000.0),
        ('"120,000.50"', 120000.5),
        ("$99.90", 99.9),
        ('"1,234,567"', 1234567.0),
        ("250 €", 250.0),
        ("£75", 75.0),
    ],
)
def test_amounts_with_currency_and_thousands_separators(
    engine: Engine, tmp_path: Path, cell: str, amount: float
) -> None:
    folder = write(
        tmp_path / "x",
        {
            "accounts.csv": ACCOUNTS,
            "invoices.csv": f"id,account_id,due_on,amount\nI1,A1,2024-03-31,{cell}\n",
        },
    )
    import_path(engine, folder)
    assert invoices(engine)["I1"].amount == amount


def test_account_arr_reads_thousands_separators(store: Engine, tmp_path: Path) -> None:
    import_path(store, write(tmp_path / "x", {"accounts.csv": 'id,arr\nA1,"$120,000"\n'}))
    with Session(store) as session:
        assert session.exec(select(Account.arr)).one() == 120000.0


@pytest.mark.parametrize(
    ("cells", "bad_row", "bad_cell"),
    [
        # A decimal comma elsewhere in the column: "1,500" might mean 1.5; Keel won't guess.
        (['"1,500"', '"2,5"'], 2, "1,500"),
        (['"12,5"'], 2, "12,5"),
        (['"1.234,50"'], 2, "1.234,50"),
        (['"1,50"'], 2, "1,50"),
        (["$"], 2, "$"),
    ],
)
def test_ambiguous_or_broken_amounts_are_refused(
    engine: Engine, tmp_path: Path, cells: list[str], bad_row: int, bad_cell: str
) -> None:
    rows = "".join(f"I{i},A1,2024-03-31,{c}\n" for i, c in enumerate(cells))
    folder = write(
        tmp_path / "x",
        {"accounts.csv": ACCOUNTS, "invoices.csv": "id,account_id,due_on,amount\n" + rows},
    )
    found = problems(engine, folder)
    assert found[0].startswith(f"invoices.csv, row {bad_row}, field 'amount': '{bad_cell}' is not")
    assert invoices(engine) == {}


# --- NPS responses without an id ------------------------------------------------------------


def test_nps_without_id_gets_a_stable_id_and_reimport_upserts(
    store: Engine, tmp_path: Path
) -> None:
    body = (
        "account_id,date,score,comment\n"
        "A1,2024-03-01,9,great\n"
        "A1,2024-03-01,4,slow\n"  # a second response that day: its own id
        "A2,2024-03-02,7,\n"
    )
    folder = write(tmp_path / "x", {"accounts.csv": ACCOUNTS, "nps.csv": body})
    import_path(store, folder)
    first = [(r.external_id, r.score) for r in nps_rows(store)]
    assert first == [
        ("nps:A1:2024-03-01", 9),
        ("nps:A1:2024-03-01:2", 4),
        ("nps:A2:2024-03-02", 7),
    ]
    # The same export again (a score corrected): updated in place, nothing duplicated.
    write(folder, {"nps.csv": body.replace("A2,2024-03-02,7", "A2,2024-03-02,8")})
    import_path(store, folder)
    assert [(r.external_id, r.score) for r in nps_rows(store)] == [
        *first[:2],
        ("nps:A2:2024-03-02", 8),
    ]


def test_nps_with_ids_keeps_them_and_fills_empty_ones(store: Engine, tmp_path: Path) -> None:
    body = "response_id,account_id,date,score\nR1,A1,2024-03-01,9\n,A2,2024-03-02,3\n"
    import_path(store, write(tmp_path / "x", {"accounts.csv": ACCOUNTS, "nps.csv": body}))
    assert [r.external_id for r in nps_rows(store)] == ["R1", "nps:A2:2024-03-02"]


def test_nps_without_a_date_is_still_refused(store: Engine, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "x", {"accounts.csv": ACCOUNTS, "nps.csv": "account_id,date,score\nA1,,9\n"}
    )
    assert problems(store, folder) == [
        "nps.csv, row 2, field 'date': is empty but a value is required"
    ]


# --- file encodings: BOM and CRLF ----------------------------------------------------------


def test_utf8_bom_and_crlf_line_ends(store: Engine, tmp_path: Path) -> None:
    accounts = '\ufeffid,name,arr\r\nA1,Acme,"$1,200"\r\nA2,"Beta\r\nGmbH",5\r\n'
    nps = "\ufeffaccount_id,date,score\r\nA1,2024-03-01,9\r\n"
    import_path(store, write(tmp_path / "x", {"accounts.csv": accounts, "nps.csv": nps}))
    with Session(store) as session:
        got = {a.external_id: (a.name, a.arr) for a in session.exec(select(Account)).all()}
    # The header's BOM is not part of "id"; a line break inside quotes stays in the cell.
    assert got == {"A1": ("Acme", 1200.0), "A2": ("Beta\r\nGmbH", 5.0)}
    assert [r.external_id for r in nps_rows(store)] == ["nps:A1:2024-03-01"]


def test_bom_in_json_and_jsonl(store: Engine, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "x",
        {
            "accounts.json": "\ufeff" + '[{"id": "A1", "arr": "120,000.50"}]',
            "nps.jsonl": "\ufeff" + '{"account_id": "A1", "date": "2024-03-01", "score": 9}\r\n',
        },
    )
    import_path(store, folder)
    with Session(store) as session:
        assert session.exec(select(Account.arr)).one() == 120000.5
    assert [r.score for r in nps_rows(store)] == [9]
