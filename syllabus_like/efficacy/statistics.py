"""Aggregate scores over seeds: interquartile mean and 95 % stratified-bootstrap interval (rliable),
as a table and a plot."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["Estimate", "format_table", "interval_estimates", "plot_intervals"]

#: ``(iqm, low, high)``: the interquartile mean over seeds and its 95 % bootstrap interval.
Estimate = tuple[float, float, float]


def interval_estimates(
    scores: Mapping[str, Sequence[float]], *, reps: int = 2000, seed: int = 0
) -> dict[str, Estimate]:
    """IQM and 95 % stratified-bootstrap interval of each arm's per-seed scores (rliable)."""
    try:
        from rliable import library, metrics
    except ImportError as error:
        raise ImportError(
            f"the efficacy suite needs rliable ({error.name} is missing): pip install 'syllabus-like[efficacy]'"
        ) from error
    score_matrices = {arm: np.asarray(values, np.float64).reshape(-1, 1) for arm, values in scores.items()}
    with warnings.catch_warnings():  # arch warns that rliable still passes a RandomState
        warnings.simplefilter("ignore", FutureWarning)
        points, intervals = library.get_interval_estimates(
            score_matrices,
            lambda matrix: np.array([metrics.aggregate_iqm(matrix)]),
            reps=reps,
            random_state=np.random.RandomState(seed),
        )
    return {arm: (float(points[arm][0]), float(intervals[arm][0, 0]), float(intervals[arm][1, 0])) for arm in scores}


def format_table(family: str, estimates: Mapping[str, Estimate], baseline: str = "domain_randomization") -> str:
    """A markdown table of the estimates, saying which arms' intervals lie above or below the baseline's."""
    lines = [
        f"| {family}: arm | IQM | 95 % CI | vs {baseline} |",
        "| --- | ---: | ---: | --- |",
    ]
    base_low, base_high = estimates[baseline][1:] if baseline in estimates else (np.nan, np.nan)
    for arm, (iqm, low, high) in estimates.items():
        if arm == baseline:
            verdict = "baseline"
        elif low > base_high:
            verdict = "better (intervals apart)"
        elif high < base_low:
            verdict = "worse (intervals apart)"
        else:
            verdict = "overlapping"
        lines.append(f"| {arm} | {iqm:.3f} | [{low:.3f}, {high:.3f}] | {verdict} |")
    return "\n".join(lines)


def plot_intervals(results: Mapping[str, Mapping[str, Estimate]], path: Path, score_names: Mapping[str, str]) -> None:
    """One panel per family: each arm's IQM with its 95 % interval."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("the efficacy plot needs matplotlib: pip install 'syllabus-like[efficacy]'") from error
    figure, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 3.2), squeeze=False)
    for axis, (family, estimates) in zip(axes[0], results.items(), strict=False):
        arms = list(estimates)
        iqm = np.array([estimates[arm][0] for arm in arms])
        low = np.array([estimates[arm][1] for arm in arms])
        high = np.array([estimates[arm][2] for arm in arms])
        positions = np.arange(len(arms))[::-1]
        axis.hlines(positions, low, high, linewidth=6, alpha=0.5)
        axis.plot(iqm, positions, "k|", markersize=14)
        axis.set_yticks(positions, arms)
        axis.set_xlabel(f"IQM of {score_names.get(family, 'score')} (95 % CI)")
        axis.set_title(family)
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
