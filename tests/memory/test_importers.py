"""``keel import``: validation before any write, upserts, JSON, folders, analytics, PostgreSQL.

Fixture files are small and written by the tests themselves.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.errors import KeelError, ValidationFailed
from keel.memory.importers import Written, import_path
from keel.memory.importers.columns import ENTITIES, reference_markdown
from keel.memory.models import (
    Account,
    Contact,
    FeatureAdoption,
    Invoice,
    NpsResponse,
    ProductEventDaily,
    Renewal,
    RenewalOutcome,
    Segment,
    Ticket,
    TicketPriority,
    TicketStatus,
    UsageDaily,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "import-format.md"

BOOK: dict[str, str] = {
    "accounts.csv": (
        "account_id,name,country,segment,arr,renewal_date,csm,channel\n"
        "A1,Acme,DE,enterprise,120000,2025-03-31,jo@keel.example,web\n"
        "A2,,US,Mid-Market,,,,appstore\n"
    ),
    "contacts.csv": (
        "id,account_id,email,full_name,role,left_company\n"
        "C1,A1,ann@acme.example,Ann Lee,champion,no\n"
        "C2,A2,bob@beta.example,,sponsor,\n"
    ),
    "usage.csv": "account_id,date,active_users,sessions\nA1,2024-03-01,10,14\nA1,2024-03-02,9,12\n",
    "tickets.csv": (
        "ticket_id,account_id,requester_email,created_at,priority,status,subject,body\n"
        "T1,A1,ANN@acme.example,2024-03-01T09:30:00Z,medium,new,Export broken,It fails.\n"
        "T2,A2,,2024-03-02,high,solved,Invoice,Wrong VAT\n"
    ),
    "notes.csv": "id,account_id,date,text\nN1,A1,2024-02-20,QBR went well.\n",
    "invoices.csv": (
        "invoice_number,account_id,issue_date,due_date,total,status\n"
        "I1,A1,2024-01-01,2024-01-31,10000,paid\nI2,A2,2024-02-01,2024-03-02,500,overdue\n"
    ),
    "nps.csv": "response_id,account_id,email,date,score,comment\nR1,A1,C1,2024-03-03,9,Love it\n",
    "renewals.csv": "id,account_id,renewal_date,outcome\nRN1,A1,2025-03-31,open\n",
    "features.csv": "account_id,feature_name,date,users\nA1,export,2024-01-10,3\n",
    "README.txt": "not data\n",
    "churn.csv": "account_id,churned\nA1,0\n",
}


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        if name.endswith(".gz"):
            (folder / name).write_bytes(gzip.compress(body.encode()))
        else:
            (folder / name).write_text(body, encoding="utf-8")
    return folder


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the database (not only the importer's); the migrations' own
    record of the schema revision (``alembic_version``) is not data."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in inspect(engine).get_table_names()
            if name != "alembic_version"
        }


def one(engine: Engine, model: type, **where: object) -> Any:
    with Session(engine) as session:
        return session.exec(select(model).filter_by(**where)).one()


@pytest.fixture()
def book(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "book", BOOK)


def test_folder_import_fills_every_entity_with_aliases_and_defaults(
    engine: Engine, book: Path
) -> None:
    report = import_path(engine, book)

    assert {f.entity for f in report.files} == {
        "accounts",
        "contacts",
        "usage",
        "tickets",
        "notes",
        "invoices",
        "nps",
        "renewals",
        "features",
    }
    assert "skipped: README.txt: not a supported file type (.csv, .csv.gz, .json, .jsonl)" in (
        report.skipped
    )
    assert any(
        line.startswith("skipped: churn.csv: not a known entity (churn labels")
        for line in report.skipped
    )
    counts = row_counts(engine)
    assert counts["account"] == 2 and counts["contact"] == 2 and counts["ticket"] == 2
    assert counts["usage_daily"] == 2 and counts["invoice"] == 2 and counts["nps_response"] == 1
    acme = one(engine, Account, external_id="A1")
    assert (acme.name, acme.region, acme.segment, acme.arr) == (
        "Acme",
        "DE",
        Segment.ENTERPRISE,
        120000.0,
    )
    assert acme.owner_csm == "jo@keel.example" and acme.renewal_date == dt.date(2025, 3, 31)
    beta = one(engine, Account, external_id="A2")
    assert (beta.name, beta.segment, beta.arr) == ("A2", Segment.MID_MARKET, 0.0)
    assert one(engine, Contact, external_id="C2").name == "bob@beta.example"
    ticket = one(engine, Ticket, external_id="T1")
    assert ticket.priority == TicketPriority.NORMAL and ticket.status == TicketStatus.OPEN
    assert ticket.opened_at == dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)
    assert ticket.requester_contact_id == one(engine, Contact, external_id="C1").id
    assert one(engine, NpsResponse, external_id="R1").contact_id is not None
    assert one(engine, Renewal, external_id="RN1").outcome == RenewalOutcome.PENDING
    assert [w.what for w in report.written][:2] == ["accounts", "contacts"]
    assert all(w.updated == 0 for w in report.written)


BAD_FILES = [
    pytest.param(
        "contacts.csv",
        "id,account_id,full_name\nC9,A1,Zed\n",
        "contacts.csv, row 1, field 'email': required column is missing",
        id="missing-column",
    ),
    pytest.param(
        "invoices.csv",
        "id;account_id;issued_on;due_on;amount\nI9;A1;2024-03-01;2024-04-01;10\n",
        "invoices.csv, row 1: the header reads as one column "
        "('id;account_id;issued_on;due_on;amount'); the file looks semicolon-separated (';'): "
        "save it comma-separated",
        id="semicolon-separated",
    ),
    pytest.param(
        "usage.csv",
        "account_id,day,active_users\nA1,2024-03-01,3\nA1,2024-03-02,many\n",
        "usage.csv, row 3, field 'active_users': 'many' is not a whole number",
        id="wrong-type",
    ),
    pytest.param(
        "invoices.csv",
        "id,account_id,issued_on,due_on,amount\nI9,A1,03/01/2024,2024-04-01,10\n",
        "invoices.csv, row 2, field 'issued_on': '03/01/2024' is not a valid date; "
        "expected an ISO date YYYY-MM-DD",
        id="bad-date",
    ),
    pytest.param(
        "tickets.csv",
        "id,account_id,opened_at\nT9,A1,2024-03-01\nT10,NOPE,2024-03-01\n",
        "tickets.csv, row 3, field 'account_id': unknown account 'NOPE': not in this "
        "import's accounts file nor in the database",
        id="unknown-account",
    ),
    pytest.param(
        "notes.csv",
        "id,account_id,occurred_on\nN8,A1,2024-01-01\nN9,A1,2024-01-02\nN8,A1,2024-01-03\n",
        "notes.csv, row 4, field 'id': duplicate id 'N8': also on row 2",
        id="duplicate-id",
    ),
    pytest.param(
        "tickets.csv",
        "id,account_id,opened_at,priority\nT9,A1,2024-03-01,p1\n",
        "tickets.csv, row 2, field 'priority': 'p1' is not one of the allowed values: "
        "low, normal, high, urgent",
        id="bad-enum",
    ),
    pytest.param(
        "nps.csv",
        "id,account_id,responded_on,score\nR9,A1,2024-01-01,11\n",
        "nps.csv, row 2, field 'score': 11 is above the maximum 10",
        id="out-of-range",
    ),
    pytest.param(
        "nps.csv",
        "id,account_id,contact_id,responded_on,score\nR9,A1,ghost@x.example,2024-01-01,5\n",
        "nps.csv, row 2, field 'contact_id': unknown contact 'ghost@x.example'",
        id="unknown-contact",
    ),
    pytest.param(
        "usage.csv",
        "account_id,day\nA1,2024-03-01\nA1,2024-03-01\n",
        "usage.csv, row 3, field 'account_id': duplicate row for account_id=A1, day=2024-03-01: "
        "also on row 2",
        id="duplicate-key",
    ),
    pytest.param(
        "subscriptions.csv",
        "account_id,start_date,end_date,mrr\nA1,2024-02-01,2024-01-01,10\n",
        "subscriptions.csv, row 2, field 'end_date': end date 2024-01-01 is before the start",
        id="period-ends-before-start",
    ),
    pytest.param(
        "tickets.csv",
        "id,account_id,opened_at\nT8,A1,2024-03-01\nT9,A1,2024-03-01,extra\n",
        "tickets.csv, row 3: not a well-formed CSV: Expected 3 fields in line 3, saw 4",
        id="malformed-csv",
    ),
    pytest.param(
        "tickets.csv",
        "id,account_id,opened_at\nT9,A1,2024-03-01,extra\n",
        "tickets.csv, row 2: not a well-formed CSV: more fields than the 3 header columns",
        id="malformed-csv-first-row",
    ),
    pytest.param(
        "nps.jsonl",
        '{"id": "R9", "account_id": "A1", "responded_on": "2024-01-01", "score": 5}\n'
        '{"id": "R10", "account_id": "A1", "responded_on": "2024-01-01", "score": "ten"}\n',
        "nps.jsonl, row 2, field 'score': 'ten' is not a whole number",
        id="jsonl-wrong-type",
    ),
]


@pytest.mark.parametrize(("name", "body", "expected"), BAD_FILES)
def test_bad_file_names_file_row_field_reason_and_writes_nothing(
    engine: Engine, book: Path, tmp_path: Path, name: str, body: str, expected: str
) -> None:
    import_path(engine, book)
    before = row_counts(engine)
    # A valid file with a new account rides along: it must not be written either.
    folder = write_folder(
        tmp_path / "bad",
        {"accounts.csv": "id,name,arr\nA1,Acme renamed,1\nA3,New Co,5\n", name: body},
    )

    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, folder)

    assert expected in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert row_counts(engine) == before
    assert one(engine, Account, external_id="A1").name == "Acme"


def test_all_problems_across_files_are_collected(engine: Engine, tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "bad",
        {
            "accounts.csv": "id,segment,arr\nA1,huge,-5\nA2,smb,x\n",
            "tickets.csv": "id,account_id,opened_at\nT1,A9,yesterday\n",
        },
    )
    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, folder)
    reasons = {(p.file, p.row, p.field) for p in caught.value.problems}
    assert reasons == {
        ("accounts.csv", 2, "segment"),
        ("accounts.csv", 2, "arr"),
        ("accounts.csv", 3, "arr"),
        ("tickets.csv", 2, "account_id"),
        ("tickets.csv", 2, "opened_at"),
    }
    assert row_counts(engine)["account"] == 0


def test_many_bad_rows_are_capped_and_summarised(engine: Engine, tmp_path: Path) -> None:
    rows = "".join(f"A{i},lots\n" for i in range(50))
    folder = write_folder(tmp_path / "bad", {"accounts.csv": "id,seats\n" + rows})
    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, folder)
    problems = caught.value.problems
    assert len(problems) == 11
    assert problems[-1].reason == "... and 40 more row(s) like these"


def test_reimport_updates_instead_of_duplicating(engine: Engine, book: Path) -> None:
    import_path(engine, book)
    first = row_counts(engine)
    (book / "accounts.csv").write_text(
        BOOK["accounts.csv"].replace("120000", "150000"), encoding="utf-8"
    )

    report = import_path(engine, book)

    assert row_counts(engine) == first
    assert one(engine, Account, external_id="A1").arr == 150000.0
    accounts = next(w for w in report.written if w.what == "accounts")
    assert (accounts.inserted, accounts.updated) == (0, 2)


def test_minimal_reimport_leaves_columns_it_does_not_have(
    engine: Engine, book: Path, tmp_path: Path
) -> None:
    import_path(engine, book)
    minimal = write_folder(tmp_path / "min", {"accounts.csv": "id,owner\nA1,max@keel.example\n"})

    import_path(engine, minimal)

    acme = one(engine, Account, external_id="A1")
    assert acme.owner_csm == "max@keel.example"
    assert (acme.name, acme.arr, acme.region) == ("Acme", 120000.0, "DE")


def test_json_and_jsonl_import(engine: Engine, tmp_path: Path) -> None:
    accounts = {
        "records": [
            {"id": "J1", "name": "Jay", "arr": 1200.5, "seats": 10, "segment": None},
            {"id": "J2", "name": "Kay", "arr": 0, "seats": 3.0, "lifecycle": "Mature"},
        ]
    }
    contacts = [
        {"id": "P1", "account_id": "J1", "email": "p1@jay.example", "left_company": True},
        {"id": "P2", "account_id": "J2", "email": "p2@kay.example", "left_company": False},
    ]
    folder = tmp_path / "json"
    folder.mkdir()
    (folder / "accounts.json").write_text(json.dumps(accounts), encoding="utf-8")
    (folder / "contacts.jsonl").write_text(
        "\n".join(json.dumps(c) for c in contacts) + "\n", encoding="utf-8"
    )

    import_path(engine, folder)

    jay = one(engine, Account, external_id="J1")
    assert (jay.arr, jay.seats_purchased, jay.segment) == (1200.5, 10, Segment.SMB)
    assert one(engine, Account, external_id="J2").lifecycle_stage.value == "mature"
    assert one(engine, Contact, external_id="P1").left_company is True
    assert one(engine, Contact, external_id="P2").left_company is False


def test_json_record_index_is_the_row(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"id": "J1"}, {"id": "J2", "arr": "lots"}]), encoding="utf-8")
    with pytest.raises(ValidationFailed, match=r"accounts.json, row 2, field 'arr': 'lots'"):
        import_path(engine, path)


def test_single_file_and_nothing_to_import(engine: Engine, tmp_path: Path) -> None:
    path = write_folder(tmp_path / "one", {"Account.csv": "id\nX1\nX2\n"}) / "Account.csv"
    report = import_path(engine, path)
    assert [(f.entity, f.rows) for f in report.files] == [("accounts", 2)]
    assert one(engine, Account, external_id="X2").name == "X2"

    labels = write_folder(tmp_path / "labels", {"observation.csv": "account_id\n1\n"})
    with pytest.raises(KeelError, match=r"observation\.csv: not a known entity"):
        import_path(engine, labels)
    with pytest.raises(KeelError, match="no such file or folder"):
        import_path(engine, tmp_path / "missing")


def test_dry_run_validates_and_writes_nothing(engine: Engine, book: Path) -> None:
    report = import_path(engine, book, dry_run=True)
    assert report.dry_run and len(report.files) == 9 and report.written == []
    assert sum(row_counts(engine).values()) == 0


# --- product analytics and billing ---------------------------------------------------------

ANALYTICS: dict[str, str] = {
    "account.csv": "account_id,country,plan\nA,DE,\nB,FR,legacy\nC,US,\n",
    "subscription.csv": (
        "account_id,product,start_date,end_date,mrr,quantity,bill_period_months\n"
        "A,basic,2024-01-01,2024-02-01,100,5,1\n"
        "A,basic,2024-02-01,2024-03-01,100,5,1\n"
        "A,pro,2024-03-01,2024-04-01,150,8,1\n"
        "B,pro,2024-01-01,2024-02-01,200,10,1\n"
        "B,basic,2024-02-01,2024-03-01,120,6,1\n"
        "C,basic,2024-01-15,2024-02-15,50,,1\n"
        "C,basic,2024-03-01,2024-04-01,50,,1\n"
    ),
    "event_daily.csv.gz": (
        "account_id,event_date,event_type_name,n_events,n_users,value_sum\n"
        "A,2024-03-18,login,4,3,\n"
        "A,2024-03-18,report,10,2,\n"
        "A,2024-03-19,report,2,1,\n"
        "A,2024-03-20,export,0,0,\n"
        "B,2024-02-10,report,1,1,\n"
        "C,2024-03-20,report,3,,\n"
    ),
    "event_type.csv": "event_type_id,event_type_name\n0,login\n",
}


def renewals_of(engine: Engine, account: str) -> list[tuple[object, ...]]:
    account_id = one(engine, Account, external_id=account).id
    with Session(engine) as session:
        rows = session.exec(
            select(Renewal).where(Renewal.account_id == account_id).order_by(Renewal.renewal_date)  # type: ignore[arg-type]
        ).all()
    return [
        (
            r.renewal_date.isoformat(),
            r.outcome.value,
            r.decided_on.isoformat() if r.decided_on else None,
            r.arr_before,
            r.arr_after,
        )
        for r in rows
    ]


def usage_of(engine: Engine, account: str) -> dict[str, tuple[int, int, int]]:
    account_id = one(engine, Account, external_id=account).id
    with Session(engine) as session:
        rows = session.exec(select(UsageDaily).where(UsageDaily.account_id == account_id)).all()
    return {u.day.isoformat(): (u.active_users, u.sessions, u.key_feature_events) for u in rows}


def adoption_of(engine: Engine, account: str) -> dict[str, tuple[str, int]]:
    account_id = one(engine, Account, external_id=account).id
    with Session(engine) as session:
        rows = session.exec(
            select(FeatureAdoption).where(FeatureAdoption.account_id == account_id)
        ).all()
    return {f.feature: (f.day.isoformat(), f.users) for f in rows}


def check_analytics(engine: Engine) -> None:
    assert renewals_of(engine, "A") == [
        ("2024-02-01", "renewed", "2024-02-01", 1200.0, 1200.0),
        ("2024-03-01", "expanded", "2024-03-01", 1200.0, 1800.0),
        ("2024-04-01", "pending", None, 1800.0, None),
    ]
    assert renewals_of(engine, "B") == [
        ("2024-02-01", "contracted", "2024-02-01", 2400.0, 1440.0),
        ("2024-03-01", "churned", "2024-03-01", 1440.0, 0.0),
    ]
    assert renewals_of(engine, "C") == [
        ("2024-02-15", "churned", "2024-02-15", 600.0, 0.0),
        ("2024-04-01", "pending", None, 600.0, None),
    ]
    a, b, c = (one(engine, Account, external_id=x) for x in "ABC")
    assert (a.arr, a.plan, a.seats_purchased) == (1800.0, "pro", 8)
    assert (a.contract_start, a.renewal_date) == (dt.date(2024, 1, 1), dt.date(2024, 4, 1))
    assert (a.region, a.lifecycle_stage.value) == ("DE", "adoption")
    # The accounts file's own plan wins over the derived one.
    assert (b.arr, b.plan, b.seats_purchased, b.lifecycle_stage.value) == (
        1440.0,
        "legacy",
        6,
        "churned",
    )
    assert b.renewal_date == dt.date(2024, 3, 1)
    assert (c.contract_start, c.created_on, c.arr, c.seats_purchased) == (
        dt.date(2024, 3, 1),
        dt.date(2024, 1, 15),
        600.0,
        None,
    )
    assert usage_of(engine, "A") == {
        "2024-03-18": (3, 4, 14),
        "2024-03-19": (1, 1, 2),
        "2024-03-20": (0, 0, 0),
    }
    assert usage_of(engine, "C") == {"2024-03-20": (0, 0, 3)}
    assert adoption_of(engine, "A") == {"login": ("2024-03-18", 3), "report": ("2024-03-18", 2)}
    assert adoption_of(engine, "C") == {"report": ("2024-03-20", 1)}


def test_analytics_shapes_derive_usage_adoption_contract_and_renewals(
    engine: Engine, tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "fc", ANALYTICS)

    report = import_path(engine, folder)

    assert report.last_day == dt.date(2024, 3, 20)
    assert [f.entity for f in report.files] == ["accounts", "events", "subscriptions"]
    assert any(
        s.startswith("skipped: event_type.csv: not a known entity (an event-name lookup")
        for s in report.skipped
    )
    check_analytics(engine)
    counts = row_counts(engine)
    assert counts["product_event_daily"] == 6 and counts["renewal"] == 7

    again = import_path(engine, folder)

    assert row_counts(engine) == counts
    assert all(w.inserted == 0 for w in again.written)
    check_analytics(engine)


def test_as_of_decides_churned_versus_pending(engine: Engine, tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "fc",
        {k: v for k, v in ANALYTICS.items() if k in ("account.csv", "subscription.csv")},
    )
    import_path(engine, folder, as_of=dt.date(2024, 2, 20))
    assert renewals_of(engine, "B")[-1][:2] == ("2024-03-01", "pending")

    import_path(engine, folder, as_of=dt.date(2024, 3, 5))
    assert renewals_of(engine, "B")[-1][:3] == ("2024-03-01", "churned", "2024-03-01")
    assert row_counts(engine)["renewal"] == 7


def test_billing_for_accounts_already_in_keel_and_a_win_back(
    engine: Engine, tmp_path: Path
) -> None:
    import_path(engine, write_folder(tmp_path / "a", {"accounts.csv": ANALYTICS["account.csv"]}))
    subs = (
        write_folder(tmp_path / "s", {"subscriptions.csv": ANALYTICS["subscription.csv"]})
        / "subscriptions.csv"
    )

    report = import_path(engine, subs, as_of=dt.date(2024, 3, 20))

    assert Written("accounts (contract from subscriptions)", 0, 3) in report.written
    b = one(engine, Account, external_id="B")
    # A later billing import updates what an earlier accounts file said.
    assert (b.arr, b.plan, b.lifecycle_stage.value) == (1440.0, "basic", "churned")
    assert one(engine, Account, external_id="A").plan == "pro"

    subs.write_text(
        ANALYTICS["subscription.csv"] + "B,basic,2024-03-01,2024-04-01,120,6,1\n", encoding="utf-8"
    )
    import_path(engine, subs, as_of=dt.date(2024, 3, 20))

    b = one(engine, Account, external_id="B")
    assert (b.lifecycle_stage.value, b.renewal_date) == ("adoption", dt.date(2024, 4, 1))
    assert renewals_of(engine, "B")[1:] == [
        ("2024-03-01", "renewed", "2024-03-01", 1440.0, 1440.0),
        ("2024-04-01", "pending", None, 1440.0, None),
    ]


def test_unreadable_and_doubled_files_are_problems(engine: Engine, tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "bad",
        {"accounts.csv": "id\nA1\n", "account.json": "[]", "notes.csv.gz": "not gzip"},
    )
    (folder / "notes.csv.gz").write_bytes(b"not gzip at all")
    (folder / "tickets.csv").write_bytes("id,account_id,subject\nT1,A1,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, folder)
    message = str(caught.value)
    assert "accounts.csv: a second file for accounts (the first is account.json)" in message
    assert "notes.csv.gz: cannot be read" in message
    assert "tickets.csv: not UTF-8 text" in message
    assert row_counts(engine)["account"] == 0


def test_events_imported_in_parts_add_up_and_move_first_use(engine: Engine, tmp_path: Path) -> None:
    import_path(engine, write_folder(tmp_path / "fc", ANALYTICS))
    more = write_folder(
        tmp_path / "more",
        {
            "events.csv": (
                "account,date,event,count,distinct_users\n"
                "A,2024-03-19,search,5,4\n"
                "A,2024-03-10,report,1,1\n"
            ),
            "features.csv": "id,account_id,feature,day,users\nF1,A,login,2024-03-18,7\n",
        },
    )

    import_path(engine, more)

    usage = usage_of(engine, "A")
    assert usage["2024-03-19"] == (4, 4, 7)  # report 2 + search 5; max users 4
    assert usage["2024-03-10"] == (1, 1, 1)
    adoption = adoption_of(engine, "A")
    assert adoption["report"] == ("2024-03-10", 1)
    assert adoption["search"] == ("2024-03-19", 4)
    assert adoption["login"] == ("2024-03-18", 7)  # the given row replaced the derived one
    assert one(engine, FeatureAdoption, external_id="F1").users == 7


def test_sixty_thousand_event_rows_in_chunks(engine: Engine, tmp_path: Path) -> None:
    """More rows than one write chunk: every row lands and rolls up (timing is not asserted;
    the full 2.5M-row figure is in docs/import-format.md)."""
    lines = ["account_id,event_date,event_type_name,n_events,n_users"]
    for account in range(30):
        for day in range(200):
            for event in (
                "post",
                "like",
                "reply",
                "view",
                "share",
                "login",
                "search",
                "tag",
                "open",
                "close",
            ):
                lines.append(
                    f"{account},{dt.date(2024, 1, 1) + dt.timedelta(days=day)},{event},2,1"
                )
    folder = write_folder(
        tmp_path / "big",
        {
            "accounts.csv": "account_id\n" + "".join(f"{a}\n" for a in range(30)),
            "event_daily.csv.gz": "\n".join(lines) + "\n",
        },
    )
    report = import_path(engine, folder)
    assert row_counts(engine)["product_event_daily"] == 60_000
    assert row_counts(engine)["usage_daily"] == 6_000
    assert usage_of(engine, "7")["2024-01-05"] == (1, 2, 20)  # login 2 > 1 user
    assert Written("features (first use of each event)", 300, 0) in report.written


# --- CLI, docs, columns --------------------------------------------------------------------


def test_cli_imports_and_prints_summary(
    tmp_path: Path, book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from keel.api.cli import importer

    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path / "keel-data"))
    app = typer.Typer()
    importer.register(app)
    app.command("noop")(lambda: None)  # keep "import" a sub-command

    dry = CliRunner().invoke(app, ["import", str(book), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "nothing was written" in dry.output

    result = CliRunner().invoke(app, ["import", str(book)])
    assert result.exit_code == 0, result.output
    assert "Rows written" in result.output and "accounts" in result.output
    assert "skipped: churn.csv" in result.output
    assert "--dry-run" in CliRunner().invoke(app, ["import", "--help"]).output


def test_cli_error_is_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    cli_main = importlib.import_module("keel.api.cli.main")

    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path / "keel-data"))
    folder = write_folder(tmp_path / "bad", {"accounts.csv": "id,arr\nA1,lots\n"})
    monkeypatch.setattr(sys, "argv", ["keel", "import", str(folder)])
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "accounts.csv, row 2, field 'arr': 'lots' is not a number" in " ".join(err.split())
    assert "Traceback" not in err


def test_docs_show_the_column_tables_the_validator_uses() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert reference_markdown() in docs


def test_each_header_names_one_column_per_entity() -> None:
    from keel.memory.importers.columns import normalise_header

    for entity in ENTITIES.values():
        names = [normalise_header(n) for c in entity.columns for n in (c.name, *c.aliases)]
        assert len(names) == len(set(names)), entity.name


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_import_upsert_and_rollback(pg_engine: Engine, book: Path, tmp_path: Path) -> None:
    analytics = write_folder(tmp_path / "fc", ANALYTICS)
    import_path(pg_engine, book)
    import_path(pg_engine, analytics)
    check_analytics(pg_engine)
    counts = row_counts(pg_engine)

    (book / "invoices.csv").write_text(
        BOOK["invoices.csv"].replace("10000,paid", "12000,late"), encoding="utf-8"
    )
    import_path(pg_engine, book)
    again = import_path(pg_engine, analytics)
    assert row_counts(pg_engine) == counts
    assert Written("usage (rolled up from events)", 0, 5) in again.written
    assert Written("events", 0, 6) in again.written
    invoice = one(pg_engine, Invoice, external_id="I1")
    assert (invoice.amount, invoice.status.value) == (12000.0, "late")

    bad = write_folder(
        tmp_path / "bad",
        {"accounts.csv": "id\nA9\n", "tickets.csv": "id,account_id,opened_at\nT1,A1,never\n"},
    )
    with pytest.raises(ValidationFailed, match=r"tickets\.csv, row 2, field 'opened_at'"):
        import_path(pg_engine, bad)
    assert row_counts(pg_engine) == counts
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ProductEventDaily)).scalar_one() == 6
