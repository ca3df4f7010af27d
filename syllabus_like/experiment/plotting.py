"""The figure of ``syllabus-like plot``: runs of one or more folders, tasks laid end to end.

Top panel: the chosen value against the chosen time domain, the mean over runs
and a 95 % bootstrap band of it; bottom panel: the evaluation scores, the same
way. Each folder (e.g. curriculum vs direct) is one colour. Each task after the
first starts where the previous one ended on average over the folder's runs; a
dashed vertical line marks each task switch and a dotted one each curriculum
stage switch (its mean position over runs). matplotlib is imported here only
(the ``plot`` extra).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from syllabus_like.experiment.aggregator import LearningStatsAggregator
from syllabus_like.experiment.run_directory import load_runs
from syllabus_like.experiment.stats import LearningStats
from syllabus_like.experiment.trajectories import trajectory

__all__ = ["plot_runs"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("plotting needs matplotlib: pip install 'syllabus-like[plot]'") from error
    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot

    return pyplot


def _task_end(stats: LearningStats, time_domain: str) -> float:
    times, _ = trajectory(stats, time_domain, "episode_rewards")
    return float(times[-1]) if len(times) else 0.0


def _switch_time(stats: LearningStats, switch: dict[str, int], time_domain: str) -> float:
    if time_domain == "episodes":
        return float(switch["episode"])
    if time_domain == "steps":
        return float(switch["step"])
    per_episode = stats.episode_wall_times if time_domain == "wall_time" else stats.episode_cpu_times
    return float(np.sum(per_episode[: switch["episode"]]))


def plot_runs(
    directories: list[str | os.PathLike],
    output: str | os.PathLike,
    *,
    time_domain: str = "episodes",
    value_domain: str = "episode_rewards_moving_avg",
    labels: list[str] | None = None,
) -> str:
    """Draw the runs under each of ``directories`` into ``output`` (any format matplotlib writes); return its path."""
    pyplot = _pyplot()
    labels = labels or [os.path.basename(os.path.normpath(os.fspath(d))) for d in directories]
    figure, (value_axes, evaluation_axes) = pyplot.subplots(2, 1, figsize=(10, 7), sharex=True)
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (directory, label) in enumerate(zip(directories, labels, strict=False)):
        colour = colours[index % len(colours)]
        names, runs = load_runs(directory)
        offset = 0.0
        for task_number, name in enumerate(names):
            task_runs = [run[name] for run in runs]
            aggregator = LearningStatsAggregator(task_runs)
            for axes, domain in ((value_axes, value_domain), (evaluation_axes, "agent_evaluations")):
                if any(len(getattr(stats, domain)) == 0 for stats in task_runs):
                    continue
                mean, times = aggregator.get_aggregate(time_domain, domain, "mean")  # type: ignore[misc]
                low, high, _ = aggregator.get_confidence_interval(time_domain, domain, "mean")  # type: ignore[misc]
                x = np.asarray(times, dtype=np.float64) + offset
                axes.plot(
                    x,
                    mean,
                    color=colour,
                    label=label if task_number == 0 else None,
                    marker="o" if domain == "agent_evaluations" else None,
                    markersize=3,
                )
                axes.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
            switches = [
                np.mean([_switch_time(stats, stats.stage_switches[k], time_domain) for stats in task_runs])
                for k in range(min(len(stats.stage_switches) for stats in task_runs))
            ]
            for when in switches:
                for axes in (value_axes, evaluation_axes):
                    axes.axvline(offset + when, color=colour, linestyle=":", linewidth=0.8)
            if task_number > 0:
                for axes in (value_axes, evaluation_axes):
                    axes.axvline(offset, color=colour, linestyle="--", linewidth=1.0)
            offset += float(np.mean([_task_end(stats, time_domain) for stats in task_runs]))
    value_axes.set_ylabel(value_domain.replace("_", " "))
    evaluation_axes.set_ylabel("evaluation score")
    evaluation_axes.set_xlabel(time_domain.replace("_", " "))
    value_axes.legend(loc="best")
    value_axes.set_title("mean over runs, 95% bootstrap band; dashed: task switch, dotted: stage switch")
    figure.tight_layout()
    path = os.path.abspath(os.fspath(output))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
