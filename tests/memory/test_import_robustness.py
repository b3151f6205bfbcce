"""``keel import`` under hostile input: one clear message per bad row, never a traceback.

Every case goes through ``import_path`` (what ``keel import`` calls) on a real SQLite
database and, marked ``postgres``, on PostgreSQL: a refusal reads the same on both and
writes nothing; "not given" cells never overwrite stored values; ``(clear)`` does.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from keel.errors import ValidationFailed
from keel.memory.importers import import_path
from keel.memory.models import Account, FeatureAdoption, UsageDaily

DEEP = 100_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and (when configured) on PostgreSQL."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return engine


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        # newline="" keeps "\r" and "\n" inside cells exactly as written.
        with open(folder / name, "w", encoding="utf-8", errors="surrogatepass", newline="") as f:
            f.write(body)
    return folder


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in inspect(engine).get_table_names()
        }


def account(engine: Engine, external_id: str) -> Account:
    with Session(engine) as session:
        return session.exec(select(Account).where(Account.external_id == external_id)).one()


def refused(engine: Engine, folder: Path) -> list[str]:
    """The problems ``import_path`` lists for ``folder``; asserts nothing was written."""
    before = row_counts(engine)
    with pytest.raises(ValidationFailed) as caught:
        import_path(engine, folder)
    assert "nothing was written" in str(caught.value)
    assert row_counts(engine) == before
    return [str(p) for p in caught.value.problems]


STORED = "id,name,arr,region,renewal_date,seats\nA1,Acme,120000,DE,2025-03-31,40\n"


# --- refused per row, the same on SQLite and PostgreSQL ------------------------------------

REFUSED = [
    pytest.param(
        "accounts.csv",
        "id,seats\nA1,1e20\n",
        "accounts.csv, row 2, field 'seats': '1e20' is out of range: whole numbers here are "
        "at most 2,147,483,647",
        id="seats-1e20",
    ),
    pytest.param(
        # Fits SQLite's 64-bit integers, not PostgreSQL's INTEGER: refused on both.
        "accounts.csv",
        "id,seats\nA1,3000000000\n",
        "accounts.csv, row 2, field 'seats': '3000000000' is out of range: whole numbers here "
        "are at most 2,147,483,647",
        id="seats-beyond-32-bit",
    ),
    pytest.param(
        "accounts.csv",
        "id,arr\nA1,1e400\n",
        "accounts.csv, row 2, field 'arr': '1e400' is out of range: too large to store",
        id="arr-overflows-to-inf",
    ),
    pytest.param(
        "accounts.csv",
        "id,arr\nA1,1e300\n",
        "accounts.csv, row 2, field 'arr': '1e300' is out of range: numbers here are at most "
        "1,000,000,000,000,000 in size",
        id="arr-1e300",
    ),
    pytest.param(
        "accounts.csv",
        "id,arr\nA1,inf\n",
        "accounts.csv, row 2, field 'arr': 'inf' is not a finite number",
        id="arr-inf",
    ),
    pytest.param(
        "accounts.csv",
        "id,name\nnan,Acme\n",
        "accounts.csv, row 2, field 'id': is empty but a value is required",
        id="required-id-nan",
    ),
    pytest.param(
        "accounts.csv",
        "id,name\nA1,Ac\x00me\n",
        "accounts.csv, row 2, field 'name': contains a NUL byte at character 3; text may hold "
        "tabs and line breaks but no other control characters: remove it",
        id="nul-byte",
    ),
    pytest.param(
        "accounts.csv",
        "id,industry\nA1,Soft\x1bware\n",
        "accounts.csv, row 2, field 'industry': contains the control character U+001B at "
        "character 5; text may hold tabs and line breaks but no other control characters: "
        "remove it",
        id="escape-character",
    ),
    pytest.param(
        "accounts.jsonl",
        '{"id": "A1"}\n{"id": "A2", "name": "B\\u0000eta"}\n',
        "accounts.jsonl, row 2, field 'name': contains a NUL byte at character 2; text may "
        "hold tabs and line breaks but no other control characters: remove it",
        id="nul-in-json",
    ),
    pytest.param(
        "accounts.json",
        '[{"id": "A1", "name": "\\ud800"}]',
        "accounts.json, row 1, field 'name': contains an unpaired surrogate (U+D800) at "
        "character 1; text may hold tabs and line breaks but no other control characters: "
        "remove it",
        id="lone-surrogate-in-json",
    ),
    pytest.param(
        "accounts.json",
        "[" * DEEP + "]" * DEEP,
        "accounts.json, row 1: nested more than 64 levels deep (at line 1); records must be "
        "flat objects of fields",
        id="json-100000-deep",
    ),
    pytest.param(
        "accounts.json",
        '[{"id": "A1"},\n {"id": "A2", "tags": ' + "[" * DEEP + "]" * DEEP + "}]",
        "accounts.json, row 2: nested more than 64 levels deep (at line 2); records must be "
        "flat objects of fields",
        id="json-deep-in-second-record",
    ),
    pytest.param(
        "accounts.jsonl",
        '{"id": "A1"}\n\n{"id": "A2", "x": ' + "{" * DEEP + "}" * DEEP + "}\n",
        "accounts.jsonl, row 3: nested more than 64 levels deep (at line 1); records must be "
        "flat objects of fields",
        id="jsonl-deep-line",
    ),
    pytest.param(
        "accounts.json",
        '[{"id": "A1", "seats": ' + "9" * 5000 + "}]",
        "accounts.json: not valid JSON here: a number is too long to read",
        id="json-5000-digit-number",
    ),
    pytest.param(
        "accounts.json",
        '[{"id": "A1", "seats": 1e20}]',
        "accounts.json, row 1, field 'seats': '1e+20' is out of range: whole numbers here are "
        "at most 2,147,483,647",
        id="json-seats-1e20",
    ),
]


@pytest.mark.parametrize(("name", "body", "expected"), REFUSED)
def test_bad_values_are_refused_per_row_with_one_message(
    store: Engine, tmp_path: Path, name: str, body: str, expected: str
) -> None:
    problems = refused(store, write_folder(tmp_path / "in", {name: body}))
    assert problems == [expected]


def test_a_refused_row_keeps_the_whole_import_out(store: Engine, tmp_path: Path) -> None:
    import_path(store, write_folder(tmp_path / "first", {"accounts.csv": STORED}))
    folder = write_folder(
        tmp_path / "bad",
        {
            "accounts.csv": "id,name,seats\nA1,Acme renamed,41\nA2,New Co,1e20\n",
            "notes.csv": "id,account_id,date,text\nN1,A1,2024-01-01,fine\n",
        },
    )
    assert refused(store, folder) == [
        "accounts.csv, row 3, field 'seats': '1e20' is out of range: whole numbers here are "
        "at most 2,147,483,647"
    ]
    assert (account(store, "A1").name, account(store, "A1").seats_purchased) == ("Acme", 40)


def test_longest_account_id_derives_ids_that_fit_on_both(store: Engine, tmp_path: Path) -> None:
    # "sub:<id>:<day>" and "<id>:<feature>:<day>" would pass 128 characters: hashed instead.
    long_id = "A" * 128
    folder = write_folder(
        tmp_path / "in",
        {
            "accounts.csv": f"id\n{long_id}\n",
            "subscriptions.csv": "account_id,start_date,end_date,mrr\n"
            f"{long_id},2024-01-01,2024-02-01,10\n{long_id},2024-02-01,2024-03-01,10\n",
            "features.csv": f"account_id,feature,day\n{long_id},export,2024-01-10\n",
        },
    )
    import_path(store, folder)
    import_path(store, folder)  # the same ids again: updates, not duplicates
    counts = row_counts(store)
    assert (counts["renewal"], counts["feature_adoption"]) == (2, 1)


# --- "not given" never overwrites; (clear) does --------------------------------------------


@pytest.mark.parametrize("token", ["", "NaN", "nan", "n/a", "N/A", "null", "none", "-"])
def test_not_given_keeps_stored_values_and_new_rows_get_defaults(
    store: Engine, tmp_path: Path, token: str
) -> None:
    import_path(store, write_folder(tmp_path / "first", {"accounts.csv": STORED}))
    again = (
        "id,name,arr,region,renewal_date,seats\n"
        f"A1,{token},{token},{token},{token},{token}\n"
        f"A2,,{token},,{token},{token}\n"
    )
    import_path(store, write_folder(tmp_path / "again", {"accounts.csv": again}))

    acme = account(store, "A1")
    assert (acme.name, acme.arr, acme.region) == ("Acme", 120000.0, "DE")
    assert (acme.renewal_date, acme.seats_purchased) == (dt.date(2025, 3, 31), 40)
    new = account(store, "A2")
    assert (new.name, new.arr, new.region, new.renewal_date, new.seats_purchased) == (
        "A2",
        0.0,
        "",
        None,
        None,
    )


def test_not_given_usage_cells_keep_stored_counts(store: Engine, tmp_path: Path) -> None:
    # Usage is loaded with COPY on PostgreSQL: the row groups must hold there too.
    first = write_folder(
        tmp_path / "first",
        {
            "accounts.csv": "id\nA1\n",
            "usage.csv": "account_id,day,active_users,sessions\nA1,2024-03-01,10,14\n"
            "A1,2024-03-02,9,12\n",
        },
    )
    import_path(store, first)
    again = "account_id,day,active_users,sessions\nA1,2024-03-01,NaN,15\nA1,2024-03-02,8,\n"
    import_path(store, write_folder(tmp_path / "again", {"usage.csv": again}))

    with Session(store) as session:
        rows = session.exec(select(UsageDaily).order_by(UsageDaily.day)).all()  # type: ignore[arg-type]
    assert [(u.active_users, u.sessions) for u in rows] == [(10, 15), (8, 12)]


def test_clear_token_clears_a_clearable_field(store: Engine, tmp_path: Path) -> None:
    import_path(store, write_folder(tmp_path / "first", {"accounts.csv": STORED}))
    again = "id,arr,region,renewal_date,seats\nA1,(clear),(CLEAR),(clear),(clear)\n"
    import_path(store, write_folder(tmp_path / "again", {"accounts.csv": again}))

    acme = account(store, "A1")
    # Each field gets its default: 0 ARR, no region, no renewal date, no seat count.
    assert (acme.arr, acme.region, acme.renewal_date, acme.seats_purchased) == (0.0, "", None, None)
    assert acme.name == "Acme"


def test_clear_token_is_refused_for_required_fields(engine: Engine, tmp_path: Path) -> None:
    import_path(engine, write_folder(tmp_path / "first", {"accounts.csv": STORED}))
    folder = write_folder(
        tmp_path / "bad",
        {
            "invoices.csv": "id,account_id,issued_on,due_on,amount\n"
            "I1,A1,2024-01-01,2024-02-01,(clear)\n(clear),A1,2024-01-01,2024-02-01,5\n",
            "subscriptions.csv": "account_id,start_date,end_date,mrr,quantity\n"
            "A1,2024-01-01,2024-02-01,10,(clear)\n",
            "features.csv": "id,account_id,feature,day\n(clear),A1,export,2024-01-10\n",
        },
    )
    assert refused(engine, folder) == [
        "features.csv, row 2, field 'id': (clear) cannot clear external_id: it identifies the row",
        "invoices.csv, row 3, field 'id': (clear) cannot clear external_id: the field is required",
        "invoices.csv, row 2, field 'amount': (clear) cannot clear amount: the field is required",
        "subscriptions.csv, row 2, field 'quantity': (clear) has nothing to clear: "
        "subscriptions are not stored; leave the cell empty",
    ]


# --- file-shape messages -------------------------------------------------------------------


SHAPES = [
    pytest.param(
        "accounts.csv",
        "id;name;arr\nA1;Acme;1.234,50\n",
        "accounts.csv, row 2: not a well-formed CSV: more fields than the 1 header columns; "
        "the file looks semicolon-separated (';'): save it comma-separated; its numbers use "
        "decimal commas (e.g. '1.234,50'): write numbers with a decimal point and no "
        "thousands separator, e.g. 1234.50",
        id="semicolons-and-decimal-commas",
    ),
    pytest.param(
        "accounts.csv",
        "id;name;arr\nA1;Acme;1200\n",
        "accounts.csv, row 1: the header reads as one column ('id;name;arr'); the file looks "
        "semicolon-separated (';'): save it comma-separated",
        id="semicolons",
    ),
    pytest.param(
        "accounts.csv",
        "id\tname\tarr\nA1\tAcme\t12,5\n",
        "accounts.csv, row 2: not a well-formed CSV: more fields than the 1 header columns; "
        "the file looks tab-separated: save it comma-separated; its numbers use decimal "
        "commas (e.g. '12,5'): write numbers with a decimal point and no thousands separator, "
        "e.g. 1234.50",
        id="tabs-and-decimal-commas",
    ),
    pytest.param(
        "accounts.csv",
        'id,arr\nA1,"1.234,50"\n',
        "accounts.csv, row 2, field 'arr': '1.234,50' is not a number; write numbers with a "
        "decimal point and no thousands separator, e.g. 1234.50",
        id="quoted-decimal-comma",
    ),
    pytest.param(
        "accounts.csv",
        'id,name\nA1,Acme\nA2,"Beta\nA3,Gamma\nA4,Delta\n',
        "accounts.csv, row 3: not a well-formed CSV: a quote opened in this row is never closed",
        id="unterminated-quote",
    ),
    pytest.param(
        "accounts.csv",
        'id,name\nA1,"two\nlines"\nA2,Beta\nA3,"open\nA4,Delta\n',
        "accounts.csv, row 4: not a well-formed CSV: a quote opened in this row (line 5) is "
        "never closed",
        id="unterminated-quote-after-a-multiline-cell",
    ),
    pytest.param(
        "accounts.csv",
        'id,name\nA1,Acme\nA2,"Beta\nA3,Gamma\nA4,"Delta"\nA5,Eps\n',
        "accounts.csv, row 3: not a well-formed CSV: a quote opened in this row closes on "
        "line 5 with more text after it, so the rows between would be read as one cell; "
        'close the quote where the cell ends (a quote inside a cell is written "")',
        id="stray-quote-swallowing-rows",
    ),
    pytest.param(
        "accounts.csv",
        "id,name,arr,ARR\nA1,Acme,1,2\n",
        "accounts.csv, row 1, field 'ARR': the header has both 'arr' and 'ARR' (columns 3 and "
        "4), which both mean arr; keep one of them",
        id="duplicate-header-case",
    ),
    pytest.param(
        "accounts.csv",
        "id,arr,name,arr\nA1,1,Acme,2\n",
        "accounts.csv, row 1, field 'arr': the header has 'arr' twice (columns 2 and 4); keep "
        "one of them",
        id="duplicate-header-same",
    ),
    pytest.param(
        "accounts.csv",
        "account_id,annual recurring revenue,arr\nA1,1,2\n",
        "accounts.csv, row 1, field 'arr': the header has both 'annual recurring revenue' and "
        "'arr' (columns 2 and 3), which both mean arr; keep one of them",
        id="duplicate-header-alias",
    ),
    pytest.param(
        "accounts.jsonl",
        '{"id": "A1", "arr": 1}\n{"id": "A2", "ARR": 2}\n',
        "accounts.jsonl, row 1, field 'ARR': the header has both 'arr' and 'ARR', which both "
        "mean arr; keep one of them",
        id="duplicate-key-json",
    ),
    pytest.param(
        "accounts.json",
        '[{"id": "A1"}, {"id": "A2", "arr": 1, "arr": 2}]',
        "accounts.json, row 2, field 'arr': the key 'arr' appears twice in one record; keep one",
        id="repeated-key-in-a-json-record",
    ),
    pytest.param(
        "accounts.jsonl",
        '{"id": "A1"}\n{"id": "A2", "id": "A3"}\n',
        "accounts.jsonl, row 2, field 'id': the key 'id' appears twice in one record; keep one",
        id="repeated-key-in-a-jsonl-line",
    ),
]


@pytest.mark.parametrize(("name", "body", "expected"), SHAPES)
def test_file_shape_messages(
    engine: Engine, tmp_path: Path, name: str, body: str, expected: str
) -> None:
    assert refused(engine, write_folder(tmp_path / "in", {name: body})) == [expected]


def test_quoted_cells_may_span_lines(engine: Engine, tmp_path: Path) -> None:
    body = 'id,name,industry\nA1,"Acme\nGmbH","Soft, ""ware"""\nA2,Beta,\n'
    import_path(engine, write_folder(tmp_path / "in", {"accounts.csv": body}))
    acme = account(engine, "A1")
    assert (acme.name, acme.industry) == ("Acme\nGmbH", 'Soft, "ware"')
    assert account(engine, "A2").name == "Beta"


# --- feature ids ---------------------------------------------------------------------------


def test_feature_id_clash_names_file_row_and_field(store: Engine, tmp_path: Path) -> None:
    first = write_folder(
        tmp_path / "first",
        {
            "accounts.csv": "id\nA1\n",
            "features.csv": "id,account_id,feature,day\nF1,A1,export,2024-01-10\n"
            "A1:sso:2024-02-01,A1,api,2024-03-01\n",
        },
    )
    import_path(store, first)
    other_id = "id,account_id,feature,day\nF2,A1,report,2024-01-11\nF9,A1,export,2024-01-10\n"
    assert refused(store, write_folder(tmp_path / "ids", {"features.csv": other_id})) == [
        "features.csv, row 3, field 'id': feature 'export' of account 'A1' on 2024-01-10 is "
        "already stored under the id 'F1', not 'F9'; give the stored id (or leave the id "
        "column out)"
    ]
    no_ids = "account_id,feature,day\nA1,sso,2024-02-01\n"
    assert refused(store, write_folder(tmp_path / "no-ids", {"features.csv": no_ids})) == [
        "features.csv, row 2, field 'feature': the id 'A1:sso:2024-02-01' Keel gives feature "
        "'sso' of account 'A1' on 2024-02-01 is already used by feature 'api' of account 'A1' "
        "on 2024-03-01; add an id column"
    ]
    # The stored id for the same key is an update, not a clash.
    import_path(
        store,
        write_folder(
            tmp_path / "same",
            {"features.csv": "id,account_id,feature,day,users\nF1,A1,export,2024-01-10,7\n"},
        ),
    )
    with Session(store) as session:
        export = session.exec(
            select(FeatureAdoption).where(FeatureAdoption.external_id == "F1")
        ).one()
    assert export.users == 7


# --- the CLI -------------------------------------------------------------------------------


def test_cli_prints_one_message_and_exits_2_for_a_deep_json_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_main = importlib.import_module("keel.api.cli.main")
    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path / "keel-data"))
    folder = write_folder(tmp_path / "in", {"accounts.json": "[" * DEEP + "]" * DEEP})
    monkeypatch.setattr(sys, "argv", ["keel", "import", str(folder)])

    with pytest.raises(SystemExit) as exited:
        cli_main.main()

    assert exited.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "accounts.json, row 1: nested more than 64 levels deep (at line 1)" in err
    assert "Traceback" not in err and "RecursionError" not in err


def test_depth_scan_ignores_brackets_inside_strings(engine: Engine, tmp_path: Path) -> None:
    brackets = "[" * 50 + "{" * 50
    records = [{"id": "A1", "name": brackets}, {"id": "A2", "industry": '"]]]"'}]
    folder = write_folder(tmp_path / "in", {"accounts.json": json.dumps(records)})
    import_path(engine, folder)
    assert account(engine, "A1").name == brackets
