"""When a learning task stops: academia's stop-condition dict, or a condition string.

academia's dict maps a predicate name to its argument; the task stops as soon
as *any* entry holds (they are OR'ed). The predicates live in an extensible
registry, :data:`DEFAULT_STOP_PREDICATES`, copied into
``LearningTask.stop_predicates``; each is ``fn(value, stats) -> bool``.

A condition string (``"episodes>=500 | avg_return>=0.8"``) is the library's
condition language (:mod:`syllabus_like.conditions`) over the metrics of
:mod:`syllabus_like.experiment.stop_metrics`; it says with ``&``, ``|`` and
``!`` what the dict can only OR.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from syllabus_like.conditions import Condition, parse_condition
from syllabus_like.experiment.stats import LearningStats
from syllabus_like.experiment.stop_metrics import STOP_METRICS, stop_metric_values

__all__ = ["DEFAULT_STOP_PREDICATES", "StopCheck", "StopConditions", "make_stop_check"]

StopPredicate = Callable[[Any, LearningStats], bool]
StopConditions = str | Condition | Mapping[str, Any]


def _holds(metric: str, stats: LearningStats, compare: Callable[[float], bool]) -> bool:
    value = STOP_METRICS[metric](stats)
    return value is not None and compare(value)


def max_episodes(value: Any, stats: LearningStats) -> bool:
    """At least ``value`` training episodes."""
    return stats.episodes >= value


def max_steps(value: Any, stats: LearningStats) -> bool:
    """At least ``value`` training steps (checked after each episode, so the last episode finishes)."""
    return stats.total_steps >= value


def min_avg_reward(value: Any, stats: LearningStats) -> bool:
    """Mean return of the last 5 episodes at least ``value`` (from the 5th episode on)."""
    return _holds("avg_return", stats, lambda observed: observed >= value)


def max_reward_std_dev(value: Any, stats: LearningStats) -> bool:
    """Standard deviation of the last 10 returns at most ``value`` (from the 10th episode on)."""
    return _holds("return_std", stats, lambda observed: observed <= value)


def min_evaluation_score(value: Any, stats: LearningStats) -> bool:
    """Mean return of the latest evaluation at least ``value``."""
    return _holds("evaluation_score", stats, lambda observed: observed >= value)


def max_wall_time(value: Any, stats: LearningStats) -> bool:
    """At least ``value`` seconds spent in training episodes."""
    return stats.total_wall_time >= value


#: academia's six predicates, by name.
DEFAULT_STOP_PREDICATES: dict[str, StopPredicate] = {
    "max_episodes": max_episodes,
    "max_steps": max_steps,
    "min_avg_reward": min_avg_reward,
    "max_reward_std_dev": max_reward_std_dev,
    "min_evaluation_score": min_evaluation_score,
    "max_wall_time": max_wall_time,
}


class StopCheck:
    """A learning task's stop conditions, checked and ready: ``check(stats) -> bool``."""

    def __init__(self, check: Callable[[LearningStats], bool], description: str) -> None:
        self.check = check
        self.description = description

    def __call__(self, stats: LearningStats) -> bool:
        return self.check(stats)

    def __repr__(self) -> str:
        return f"StopCheck({self.description})"


def _condition_check(condition: Condition) -> StopCheck:
    unknown = condition.metrics - set(STOP_METRICS)
    if unknown:
        raise ValueError(
            f"stop condition {str(condition)!r} reads unknown metrics {sorted(unknown)}; "
            f"valid metrics are: {', '.join(STOP_METRICS)}"
        )
    names = tuple(condition.metrics)
    return StopCheck(lambda stats: condition(stop_metric_values(stats, names)), str(condition))


def _dict_check(conditions: Mapping[str, Any], predicates: Mapping[str, StopPredicate]) -> StopCheck:
    unknown = [name for name in conditions if name not in predicates]
    if unknown:
        raise ValueError(
            f"unknown stop condition {', '.join(map(repr, unknown))}; valid ones are: {', '.join(predicates)}"
        )
    for name, value in conditions.items():
        if name in DEFAULT_STOP_PREDICATES and predicates[name] is DEFAULT_STOP_PREDICATES[name]:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ValueError(f"stop condition {name!r} needs a number, got {value!r}")
    entries = [(predicates[name], value) for name, value in conditions.items()]
    description = " | ".join(f"{name}: {value!r}" for name, value in conditions.items())
    return StopCheck(lambda stats: any(predicate(value, stats) for predicate, value in entries), description)


def make_stop_check(conditions: Any, predicates: Mapping[str, StopPredicate]) -> StopCheck:
    """Validate ``conditions`` (a condition string, a :class:`Condition` or academia's dict) now.

    ``ValueError`` for no condition at all, an unknown dict key or metric
    (listing the valid ones), a non-numeric value for a built-in predicate, or
    condition text that does not parse.
    """
    if conditions is None or (isinstance(conditions, (str, Mapping)) and len(conditions) == 0):
        raise ValueError(
            "a learning task needs at least one stop condition, e.g. {'max_episodes': 500} or "
            f"'episodes>=500 | avg_return>=0.8'; got {conditions!r}"
        )
    if isinstance(conditions, str):
        try:
            condition = parse_condition(conditions, metrics=STOP_METRICS)
        except ValueError as error:
            raise ValueError(f"stop condition is invalid: {error}") from error
        return _condition_check(condition)
    if isinstance(conditions, Condition):
        return _condition_check(conditions)
    if isinstance(conditions, Mapping):
        return _dict_check(conditions, predicates)
    raise ValueError(
        f"stop_conditions must be a condition string or a dict of academia's stop predicates, got {conditions!r}"
    )
