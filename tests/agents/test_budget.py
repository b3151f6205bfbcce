"""The per-run budget: refuses before overspending, and is safe across threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from keel.agents.budget import RunBudget
from keel.errors import BudgetExceeded
from keel.settings import Settings


def test_refuses_the_call_that_would_exceed_and_charges_nothing() -> None:
    budget = RunBudget(max_calls=2, max_tokens=100)
    budget.charge(calls=1, tokens=40)
    budget.charge(calls=1, tokens=40)

    with pytest.raises(BudgetExceeded, match="2 of 2 calls used"):
        budget.charge(calls=1)

    assert (budget.calls_used, budget.tokens_used) == (2, 80)


def test_refuses_tokens_beyond_the_limit() -> None:
    budget = RunBudget(max_calls=10, max_tokens=100)
    budget.charge(calls=1, tokens=90)

    with pytest.raises(BudgetExceeded, match=r"needs about 20 but only 10 remain"):
        budget.charge(calls=1, tokens=20)

    assert budget.remaining().calls == 9 and budget.remaining().tokens == 10


def test_adjust_settles_real_usage_without_raising() -> None:
    budget = RunBudget(max_calls=10, max_tokens=100)
    budget.charge(calls=1, tokens=30)

    budget.adjust(+120)  # the call used more than estimated: recorded, not refused

    assert budget.tokens_used == 150 and budget.remaining().tokens == 0
    with pytest.raises(BudgetExceeded):
        budget.charge(calls=1, tokens=1)


def test_concurrent_charges_never_exceed_the_limit() -> None:
    budget = RunBudget(max_calls=500, max_tokens=10**9)
    granted = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            try:
                budget.charge(calls=1, tokens=1)
            except BudgetExceeded:
                continue
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 500 and budget.calls_used == 500


def test_from_settings(tmp_path: Path) -> None:
    budget = RunBudget.from_settings(
        Settings(data_dir=tmp_path, llm_max_calls=3, llm_max_tokens=1234)
    )

    assert (budget.max_calls, budget.max_tokens) == (3, 1234)
