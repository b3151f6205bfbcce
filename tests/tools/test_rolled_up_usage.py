"""Usage rolled up from a product-event export is not counted twice by the health model.

A product-analytics import derives each day's usage (key events = the sum of the day's
event counts, sessions = active users without session events, active days = days with any
event) from the same rows the per-event columns count. The multi-signal model leaves those
levels out where every usage row of the window is such a roll-up; active users stay for an
account that has had more than one; the usage-only baseline keeps everything.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from keel.memory.importers import import_path
from keel.tools.signals import compute_signals, day_number, load_book
from keel.tools.signals.catalog import EVENT_PREFIX
from tests.memory.test_importers import write_folder

START = dt.date(2024, 1, 1)
AS_OF = START + dt.timedelta(days=59)
REPEATS = ("sessions_level", "key_events_level", "active_days")


def _events(days: int = 60) -> str:
    lines = ["account_id,event_date,event_type_name,n_events,n_users"]
    for i in range(days):
        day = (START + dt.timedelta(days=i)).isoformat()
        lines.append(f"solo,{day},post,{1 + i % 3},1")
        lines.append(f"solo,{day},unfriend,{i % 2},1")
        lines.append(f"team,{day},report,{5 + i % 4},{1 + i % 3}")
    return "\n".join(lines) + "\n"


def _import(engine: Engine, folder: Path, files: dict[str, str]) -> None:
    import_path(engine, write_folder(folder, files))


def _signals(engine: Engine, as_of: dt.date = AS_OF) -> dict[str, pd.Series]:
    book = load_book(engine)
    ids = book.accounts["account_id"].to_numpy()
    frame = compute_signals(book, ids, np.full(len(ids), day_number(as_of)))
    names = book.accounts["external_id"].astype(str).tolist()
    return {name: frame.iloc[i] for i, name in enumerate(names)}


def _analytics(engine: Engine, tmp_path: Path) -> None:
    _import(
        engine,
        tmp_path / "export",
        {
            "account.csv": "account_id,country\nsolo,DE\nteam,FR\n",
            "subscription.csv": (
                "account_id,product,start_date,end_date,mrr,quantity,bill_period_months\n"
                "solo,basic,2024-01-01,2024-07-01,10,1,6\n"
                "team,pro,2024-01-01,2024-07-01,500,10,6\n"
            ),
            "event_daily.csv": _events(),
        },
    )


def test_levels_rolled_up_from_events_are_left_to_the_event_columns(
    engine: Engine, tmp_path: Path
) -> None:
    _analytics(engine, tmp_path)

    solo, team = (s := _signals(engine))["solo"], s["team"]

    for name in (*REPEATS, "active_users_level"):
        assert math.isnan(solo[name]), name
        # The usage-only baseline still reads the raw level.
        assert not math.isnan(solo["usage_" + name]), name
    assert solo[EVENT_PREFIX + "post"] > 0 and solo[EVENT_PREFIX + "unfriend"] > 0
    # Several people use the team account: how many is not in any event count.
    assert team["active_users_level"] > 0
    for name in REPEATS:
        assert math.isnan(team[name]), name


def test_a_usage_file_of_its_own_keeps_the_levels(engine: Engine, tmp_path: Path) -> None:
    _analytics(engine, tmp_path)
    rows = ["account_id,day,active_users,sessions,key_feature_events"]
    for i in range(60):
        rows.append(f"solo,{(START + dt.timedelta(days=i)).isoformat()},1,2,{40 + i}")

    _import(engine, tmp_path / "usage", {"usage.csv": "\n".join(rows) + "\n"})

    solo = _signals(engine)["solo"]
    for name in (*REPEATS, "active_users_level"):
        assert not math.isnan(solo[name]), name
    assert solo["key_events_level"] == solo["usage_key_events_level"]


def test_later_usage_files_change_no_earlier_level(engine: Engine, tmp_path: Path) -> None:
    _analytics(engine, tmp_path)
    earlier = AS_OF - dt.timedelta(days=20)
    before = _signals(engine, earlier)["solo"]
    later = ["account_id,day,active_users,sessions,key_feature_events"] + [
        f"solo,{(START + dt.timedelta(days=i)).isoformat()},4,9,{400 + i}" for i in range(45, 60)
    ]

    _import(
        engine,
        tmp_path / "later",
        {"usage.csv": "\n".join(later) + "\n"},
    )

    after = _signals(engine, earlier)["solo"]
    pd.testing.assert_series_equal(before, after)
    # ...while the window that holds the explicit rows now reads them.
    assert not math.isnan(_signals(engine)["solo"]["key_events_level"])
