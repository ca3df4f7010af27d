"""One run's values of a value domain against a time domain: what the aggregator puts on a common grid.

Episode values (``episode_rewards``, ``step_counts`` and their moving
averages) are placed at the end of their episode: episode number ``1..n``,
cumulative steps, or cumulative wall / CPU seconds of training episodes.
Evaluations (``agent_evaluations``) are placed where they ran: the training
episodes and steps recorded with them (``evaluation_episodes`` /
``evaluation_steps``); for stats that lack them (academia's JSON), at
episodes ``0, interval, 2 * interval, ...`` (an initial evaluation, then one
per interval, academia's defaults), with steps and times read off the
cumulative sums at those episodes.
"""

from __future__ import annotations

import numpy as np

from syllabus_like.experiment.stats import LearningStats

__all__ = ["EPISODE_VALUE_DOMAINS", "TIME_DOMAINS", "VALUE_DOMAINS", "trajectory"]

TIME_DOMAINS: tuple[str, ...] = ("steps", "episodes", "cpu_time", "wall_time")
EPISODE_VALUE_DOMAINS: tuple[str, ...] = (
    "episode_rewards",
    "episode_rewards_moving_avg",
    "step_counts",
    "step_counts_moving_avg",
)
VALUE_DOMAINS: tuple[str, ...] = ("agent_evaluations", *EPISODE_VALUE_DOMAINS)


def _cumulative(stats: LearningStats, time_domain: str) -> np.ndarray:
    """Time at the end of each episode, with time 0 (before the first) prepended: ``n + 1`` entries."""
    if time_domain == "episodes":
        per_episode = np.ones(stats.episodes, dtype=np.int64)
    elif time_domain == "steps":
        per_episode = stats.step_counts.astype(np.int64)
    elif time_domain == "wall_time":
        per_episode = stats.episode_wall_times
    else:
        per_episode = stats.episode_cpu_times
    return np.concatenate([np.zeros(1, dtype=per_episode.dtype), np.cumsum(per_episode)])


def trajectory(stats: LearningStats, time_domain: str, value_domain: str) -> tuple[np.ndarray, np.ndarray]:
    """``(times, values)`` of one run, times non-decreasing."""
    clock = _cumulative(stats, time_domain)
    if value_domain != "agent_evaluations":
        return clock[1:], np.asarray(getattr(stats, value_domain), dtype=np.float64)
    values = np.asarray(stats.agent_evaluations, dtype=np.float64)
    if len(stats.evaluation_episodes) == len(values):
        episodes = stats.evaluation_episodes.astype(np.int64)
        if time_domain == "steps" and len(stats.evaluation_steps) == len(values):
            return stats.evaluation_steps.astype(np.int64), values
    else:
        episodes = np.arange(len(values), dtype=np.int64) * int(stats.evaluation_interval)
    return clock[np.clip(episodes, 0, len(clock) - 1)], values
