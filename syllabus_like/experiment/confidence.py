"""Robust summaries over runs: the interquartile mean and bootstrap confidence intervals (scipy).

Agarwal et al. (2021), "Deep RL at the Edge of the Statistical Precipice",
recommend the interquartile mean (IQM: the mean of the middle 50 % of runs)
and percentile-bootstrap confidence intervals over runs. Their library,
``rliable``, pins ``arch<8``, and that ``arch`` fails to import with current
pandas/numpy, so the same statistics come from scipy:
``scipy.stats.trim_mean(x, 0.25)`` is the IQM and ``scipy.stats.bootstrap``
the interval. scipy is imported here only (the ``experiment`` extra).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["STATISTICS", "bootstrap_interval", "interquartile_mean"]


def _scipy_stats():
    try:
        from scipy import stats
    except ImportError as error:
        raise ImportError(
            "the IQM and bootstrap confidence intervals need scipy: pip install 'syllabus-like[experiment]'"
        ) from error
    return stats


def interquartile_mean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean of the middle 50 % along ``axis`` (25 % trimmed from each end)."""
    return _scipy_stats().trim_mean(values, 0.25, axis=axis)


#: Aggregate functions over runs (axis 0): academia's four, and the IQM.
STATISTICS: dict[str, Callable[..., np.ndarray]] = {
    "mean": np.mean,
    "min": np.min,
    "max": np.max,
    "std": np.std,
    "iqm": interquartile_mean,
}


def bootstrap_interval(
    values: np.ndarray,
    statistic: str = "mean",
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap interval of ``statistic`` over runs (axis 0), for every column of ``values``.

    With a single run there is nothing to resample: both bounds are the value.
    """
    if statistic not in ("mean", "iqm"):
        raise ValueError(f"bootstrap intervals are for 'mean' or 'iqm', got {statistic!r}")
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] < 2:
        return values[0].copy(), values[0].copy()
    if statistic == "mean":

        def function(sample, axis):
            return np.mean(sample, axis=axis)
    else:

        def function(sample, axis):
            return interquartile_mean(sample, axis=axis)

    constant = np.all(values == values[0], axis=0)
    low, high = values[0].copy(), values[0].copy()
    if not constant.all():
        result = _scipy_stats().bootstrap(
            (values[:, ~constant],),
            function,
            axis=0,
            vectorized=True,
            confidence_level=confidence_level,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low[~constant] = result.confidence_interval.low
        high[~constant] = result.confidence_interval.high
    return low, high
