"""The metrics a learning task's condition string may read, computed from its :class:`LearningStats`.

One table, shared with the docs (``docs/experiments.md``). Names match
:data:`syllabus_like.SEQUENTIAL_METRICS` where they mean the same thing
(``episodes``, ``steps``: counted within this learning task). A metric with no
value yet (e.g. ``avg_return`` before 5 episodes) makes every comparison on it
False, as everywhere in the condition language.

==================  ==========================================================
name                value
==================  ==========================================================
episodes            training episodes finished
steps               training environment steps taken
avg_return          mean return of the last 5 episodes (from the 5th episode on)
return_std          standard deviation of the last 10 returns (from the 10th on)
last_return         return of the latest episode
avg_length          mean length of the last 5 episodes (from the 5th on)
evaluation_score    mean return of the latest evaluation (after the first one)
evaluations         evaluations run (the initial one included)
wall_time           seconds spent in training episodes (evaluations excluded)
cpu_time            CPU seconds spent in training episodes
stage               the curriculum's stage (0 until its first switch)
stage_switches      curriculum stage switches so far
==================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from syllabus_like.experiment.stats import MOVING_AVERAGE_WINDOW, LearningStats

__all__ = ["RETURN_STD_WINDOW", "STOP_METRICS", "stop_metric_values"]

#: Returns in ``return_std`` (academia's 10).
RETURN_STD_WINDOW = 10


def _avg_return(stats: LearningStats) -> float | None:
    if stats.episodes < MOVING_AVERAGE_WINDOW:
        return None
    return float(stats.episode_rewards_moving_avg[-1])


def _return_std(stats: LearningStats) -> float | None:
    if stats.episodes < RETURN_STD_WINDOW:
        return None
    return float(np.std(stats.episode_rewards[-RETURN_STD_WINDOW:]))


def _avg_length(stats: LearningStats) -> float | None:
    if stats.episodes < MOVING_AVERAGE_WINDOW:
        return None
    return float(stats.step_counts_moving_avg[-1])


def _last(values: np.ndarray) -> float | None:
    return float(values[-1]) if len(values) else None


#: Metric name -> function of the stats giving its value (None: no value yet).
STOP_METRICS: dict[str, Callable[[LearningStats], float | None]] = {
    "episodes": lambda stats: float(stats.episodes),
    "steps": lambda stats: float(stats.total_steps),
    "avg_return": _avg_return,
    "return_std": _return_std,
    "last_return": lambda stats: _last(stats.episode_rewards),
    "avg_length": _avg_length,
    "evaluation_score": lambda stats: _last(stats.agent_evaluations),
    "evaluations": lambda stats: float(len(stats.agent_evaluations)),
    "wall_time": lambda stats: stats.total_wall_time,
    "cpu_time": lambda stats: stats.total_cpu_time,
    "stage": lambda stats: float(stats.stage_switches[-1]["to_stage"]) if stats.stage_switches else 0.0,
    "stage_switches": lambda stats: float(len(stats.stage_switches)),
}


def stop_metric_values(stats: LearningStats, names: Collection[str] | None = None) -> dict[str, float]:
    """The values of ``names`` (default: every metric) that have one now."""
    values: dict[str, float] = {}
    for name in STOP_METRICS if names is None else names:
        value = STOP_METRICS[name](stats)
        if value is not None:
            values[name] = value
    return values
