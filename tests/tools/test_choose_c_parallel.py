"""The health model's cross-validation fits run in parallel on a large book, and choose
the very same C as one after another."""

from __future__ import annotations

import numpy as np

from keel.tools.health.model import PARALLEL_CV_CELLS, choose_c, cv_jobs


def _book(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows, accounts = 3_000, 300
    x = rng.normal(size=(rows, 12))
    logit = -2.5 + 0.8 * x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    groups = rng.integers(0, accounts, size=rows)
    return x, y, groups


def test_parallel_fits_choose_the_same_c_as_sequential_ones() -> None:
    for seed in (1, 2, 3):
        x, y, groups = _book(seed)
        sequential = choose_c(x, y, groups, n_jobs=1)
        parallel = choose_c(x, y, groups, n_jobs=2)
        assert parallel == sequential
        # And without the one-standard-error rule, the plain best.
        assert choose_c(x, y, groups, n_jobs=2, one_se=False) == choose_c(
            x, y, groups, n_jobs=1, one_se=False
        )


def test_small_books_fit_in_process() -> None:
    assert cv_jobs(PARALLEL_CV_CELLS - 1, 12) == 1
    assert cv_jobs(PARALLEL_CV_CELLS, 1) == 1
    assert 1 <= cv_jobs(PARALLEL_CV_CELLS, 12) <= 12
