"""The fitting code of the health model on plain arrays: what it keeps and how it adds up."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from keel.tools.health.model import fit_model

FITTED_ON = dt.date(2026, 1, 1)


def _frame(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two informative signals, one a near-copy of the first, on rows of 300 accounts."""
    rng = np.random.default_rng(seed)
    users = rng.normal(2.0, 0.5, n)
    nps = rng.normal(7.0, 2.0, n)
    logit = -2.5 - 1.5 * (users - 2.0) / 0.5 - 0.6 * (nps - 7.0) / 2.0
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame = pd.DataFrame(
        {
            "account_id": np.arange(n) % 300,
            "segment": "smb",
            "stage": "mature",
            "active_users_level": users,
            # The same series derived another way (as an import without session events
            # gives sessions = active users): a copy up to scale and a little noise.
            "sessions_level": 3.0 * users + 1.0 + rng.normal(0, 0.01, n),
            "nps": nps,
        }
    )
    return frame, y


def test_a_signal_that_copies_another_is_left_out() -> None:
    frame, y = _frame()
    features = ["active_users_level", "sessions_level", "nps"]
    model = fit_model(
        frame, y, kind="multi_signal", features=features, horizon_days=180, fitted_on=FITTED_ON
    )
    assert model.features == ["active_users_level", "nps"]
    alone = fit_model(
        frame,
        y,
        kind="multi_signal",
        features=["active_users_level", "nps"],
        horizon_days=180,
        fitted_on=FITTED_ON,
    )
    # Leaving the copy out is exactly the fit without it: the copy gets no extra weight.
    np.testing.assert_allclose(model.coef, alone.coef)
    np.testing.assert_allclose(model.predict(frame), alone.predict(frame))


def test_distinct_correlated_signals_are_both_kept() -> None:
    frame, y = _frame()
    rng = np.random.default_rng(1)
    # Correlated (r ~ 0.9) but not a copy: both carry information and both stay.
    frame["sessions_level"] = frame["active_users_level"] + rng.normal(0, 0.25, len(frame))
    model = fit_model(
        frame,
        y,
        kind="multi_signal",
        features=["active_users_level", "sessions_level", "nps"],
        horizon_days=180,
        fitted_on=FITTED_ON,
    )
    assert model.features == ["active_users_level", "sessions_level", "nps"]
