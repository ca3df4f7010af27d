"""Aggregating the statistics of several runs: academia's ``LearningStatsAggregator``.

Runs of different lengths on one time grid: the grid is the sorted union of
every run's time points that lie inside the span *all* runs cover (from the
latest first point to the earliest last point), and each run's value at a
grid point is linearly interpolated between its own neighbouring points. So
every aggregate point aggregates every run, nothing is extrapolated, and runs
with identical time points (e.g. episodes of equally long runs) are
aggregated exactly, point by point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from syllabus_like.experiment.confidence import STATISTICS, bootstrap_interval
from syllabus_like.experiment.stats import LearningStats
from syllabus_like.experiment.trajectories import TIME_DOMAINS, VALUE_DOMAINS, trajectory

__all__ = ["AGGREGATE_FUNCTIONS", "LearningStatsAggregator"]

#: Names accepted as ``agg_func_name``: academia's four and the interquartile mean.
AGGREGATE_FUNCTIONS: tuple[str, ...] = tuple(STATISTICS)

Aggregate = tuple[np.ndarray, np.ndarray]


def _check_choice(name: str, value: Any, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, valid))}, got {value!r}")


class LearningStatsAggregator:
    """Aggregates the stats of several runs of one task, or of one experiment (dicts of task stats).

    Args:
        stats: a list of :class:`LearningStats` (runs of one task) or a list
            of dicts ``task name -> LearningStats`` (runs of one experiment;
            every dict must have the same keys).

    Raises:
        ValueError: when ``stats`` is not a list, is empty, mixes kinds, holds
            something other than ``LearningStats``, or its dicts' keys differ.
    """

    def __init__(self, stats: list[LearningStats] | list[dict[str, LearningStats]]) -> None:
        if isinstance(stats, (str, bytes, Mapping)) or not isinstance(stats, Sequence):
            raise ValueError(f"stats must be a list of LearningStats or of dicts of them, got {type(stats).__name__}")
        if len(stats) == 0:
            raise ValueError("stats must hold at least one run, got an empty list")
        if all(isinstance(run, Mapping) for run in stats):
            keys = list(stats[0])
            for index, run in enumerate(stats):
                if set(run) != set(keys):
                    raise ValueError(f"run {index} has tasks {sorted(run)}, run 0 has {sorted(keys)}; they must match")
                for name, task_stats in run.items():
                    if not isinstance(task_stats, LearningStats):
                        raise ValueError(f"run {index}, task {name!r} is not a LearningStats: {task_stats!r}")
        else:
            for index, run in enumerate(stats):
                if not isinstance(run, LearningStats):
                    raise ValueError(f"stats must be all LearningStats or all dicts of them; item {index} is {run!r}")
        self.stats = list(stats)

    @property
    def is_experiment(self) -> bool:
        """Whether the runs are experiments (dicts of task stats) rather than single tasks."""
        return isinstance(self.stats[0], Mapping)

    def _runs_by_task(self) -> dict[str | None, list[LearningStats]]:
        if self.is_experiment:
            return {name: [run[name] for run in self.stats] for name in self.stats[0]}  # type: ignore[index]
        return {None: self.stats}  # type: ignore[dict-item]

    @staticmethod
    def _grid(runs: list[LearningStats], time_domain: str, value_domain: str) -> tuple[np.ndarray, np.ndarray]:
        """``(times, values of shape (runs, times))`` on the common grid."""
        trajectories = [trajectory(run, time_domain, value_domain) for run in runs]
        for index, (times, _) in enumerate(trajectories):
            if len(times) == 0:
                raise ValueError(f"run {index} has no {value_domain} to aggregate")
        start = max(times[0] for times, _ in trajectories)
        end = min(times[-1] for times, _ in trajectories)
        union = np.unique(np.concatenate([times for times, _ in trajectories]))
        grid = union[(union >= start) & (union <= end)]
        if len(grid) == 0:
            raise ValueError(f"the runs share no span of {time_domain} to aggregate {value_domain} over")
        values = np.stack([np.interp(grid, times, run_values) for times, run_values in trajectories])
        return grid, values

    def get_aggregate(
        self,
        time_domain: str = "steps",
        value_domain: str = "agent_evaluations",
        agg_func_name: str = "mean",
    ) -> Aggregate | dict[str, Aggregate]:
        """The aggregate trajectory: ``(values, timestamps)``, or a dict of them per task for experiment runs.

        ``time_domain``: ``steps``, ``episodes``, ``cpu_time``, ``wall_time``.
        ``value_domain``: ``agent_evaluations``, ``episode_rewards``,
        ``episode_rewards_moving_avg``, ``step_counts``, ``step_counts_moving_avg``.
        ``agg_func_name``: ``mean``, ``min``, ``max``, ``std`` (numpy's, over
        runs) or ``iqm``. Values are float32; timestamps int32 for steps and
        episodes, float32 for times. ValueError for any other name.
        """
        _check_choice("time_domain", time_domain, TIME_DOMAINS)
        _check_choice("value_domain", value_domain, VALUE_DOMAINS)
        _check_choice("agg_func_name", agg_func_name, AGGREGATE_FUNCTIONS)
        function = STATISTICS[agg_func_name]
        time_type = np.int32 if time_domain in ("steps", "episodes") else np.float32
        results: dict[str | None, Aggregate] = {}
        for name, runs in self._runs_by_task().items():
            grid, values = self._grid(runs, time_domain, value_domain)
            results[name] = (np.asarray(function(values, axis=0), dtype=np.float32), grid.astype(time_type))
        return results.get(None, results)  # type: ignore[return-value]

    def get_confidence_interval(
        self,
        time_domain: str = "steps",
        value_domain: str = "agent_evaluations",
        statistic: str = "mean",
        *,
        confidence_level: float = 0.95,
        n_resamples: int = 2000,
        seed: int | None = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Percentile-bootstrap interval over runs of ``statistic`` (``mean`` or ``iqm``) on the same grid.

        Returns ``(low, high, timestamps)``, or a dict of them per task.
        """
        _check_choice("time_domain", time_domain, TIME_DOMAINS)
        _check_choice("value_domain", value_domain, VALUE_DOMAINS)
        _check_choice("statistic", statistic, ("mean", "iqm"))
        if not 0.0 < confidence_level < 1.0:
            raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
        results: dict[str | None, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, runs in self._runs_by_task().items():
            grid, values = self._grid(runs, time_domain, value_domain)
            low, high = bootstrap_interval(
                values, statistic, confidence_level=confidence_level, n_resamples=n_resamples, seed=seed
            )
            results[name] = (low.astype(np.float32), high.astype(np.float32), grid)
        return results.get(None, results)  # type: ignore[return-value]
