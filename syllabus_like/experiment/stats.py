"""Training statistics of one learning task: academia's ``LearningStats``, plus what a curriculum adds."""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from syllabus_like.experiment.growing_array import GrowingArray
from syllabus_like.experiment.verbosity import EACH_EPISODE, EACH_EVALUATION, EVALUATION_MEANS, log_at

__all__ = ["MOVING_AVERAGE_WINDOW", "LearningStats", "stats_path"]

logger = logging.getLogger(__name__)

#: Episodes in the moving averages (academia's 5).
MOVING_AVERAGE_WINDOW = 5

_ARRAY_FIELDS: dict[str, type] = {
    "episode_rewards": np.float64,
    "agent_evaluations": np.float64,
    "step_counts": np.int64,
    "episode_rewards_moving_avg": np.float64,
    "step_counts_moving_avg": np.float64,
    "episode_wall_times": np.float64,
    "episode_cpu_times": np.float64,
    "evaluation_episodes": np.int64,
    "evaluation_steps": np.int64,
}
#: Fields academia's JSON has; the others are ours and optional when loading.
ACADEMIA_FIELDS = (
    "episode_rewards",
    "step_counts",
    "episode_rewards_moving_avg",
    "step_counts_moving_avg",
    "agent_evaluations",
    "episode_wall_times",
    "episode_cpu_times",
    "evaluation_interval",
)


def stats_path(path: str | os.PathLike) -> str:
    """``path`` with ``.stats.json`` appended unless it already ends in ``.json`` (academia's rule)."""
    path = os.fspath(path)
    return path if path.endswith(".json") else path + ".stats.json"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a task (numpy scalars and arrays become Python numbers and lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


class LearningStats:
    """What happened while a learning task trained: per training episode and per evaluation.

    academia's fields, same names and meanings (numpy arrays, read-only views
    that grow as training goes; assign a new array to replace one):

    * ``episode_rewards``: return of each training episode;
    * ``step_counts``: length of each training episode;
    * ``episode_rewards_moving_avg`` / ``step_counts_moving_avg``: mean of the
      last :data:`MOVING_AVERAGE_WINDOW` (5) entries, this one included;
    * ``episode_wall_times`` / ``episode_cpu_times``: seconds each training
      episode took (``time.perf_counter`` / ``time.process_time``);
    * ``agent_evaluations``: the mean return of each evaluation;
    * ``evaluation_interval``: training episodes between evaluations.

    Beyond academia: ``episode_tasks`` (the task of each training episode when
    a curriculum chose it, else empty), ``stage_switches`` (one dict per
    curriculum stage switch: ``episode`` and ``step`` counts when it happened,
    ``from_stage``, ``to_stage``), and ``evaluation_episodes`` /
    ``evaluation_steps`` (the training episodes and steps done when each
    evaluation ran). Evaluation episodes never enter the training arrays.
    """

    def __init__(self, evaluation_interval: int) -> None:
        self.evaluation_interval = evaluation_interval
        self._arrays = {name: GrowingArray(dtype) for name, dtype in _ARRAY_FIELDS.items()}
        self.episode_tasks: list[Any] = []
        self.stage_switches: list[dict[str, int]] = []
        self._total_steps = 0
        self._total_wall_time = 0.0
        self._total_cpu_time = 0.0
        # The last few entries as Python numbers: the moving averages without numpy calls per episode.
        self._recent_rewards: deque[float] = deque(maxlen=MOVING_AVERAGE_WINDOW)
        self._recent_steps: deque[int] = deque(maxlen=MOVING_AVERAGE_WINDOW)

    # ----------------------------------------------------------- the arrays
    def _get(self, name: str) -> np.ndarray:
        return self._arrays[name].view()

    def _set(self, name: str, values: Any) -> None:
        self._arrays[name] = GrowingArray(_ARRAY_FIELDS[name], np.asarray(values).ravel())
        if name == "episode_rewards":
            self._recent_rewards = deque(self._get(name)[-MOVING_AVERAGE_WINDOW:].tolist(), MOVING_AVERAGE_WINDOW)
        elif name == "step_counts":
            self._recent_steps = deque(self._get(name)[-MOVING_AVERAGE_WINDOW:].tolist(), MOVING_AVERAGE_WINDOW)
            self._total_steps = int(np.sum(self._get(name)))
        elif name == "episode_wall_times":
            self._total_wall_time = float(np.sum(self._get(name)))
        elif name == "episode_cpu_times":
            self._total_cpu_time = float(np.sum(self._get(name)))

    episode_rewards = property(
        lambda self: self._get("episode_rewards"), lambda self, v: self._set("episode_rewards", v)
    )
    agent_evaluations = property(
        lambda self: self._get("agent_evaluations"), lambda self, v: self._set("agent_evaluations", v)
    )
    step_counts = property(lambda self: self._get("step_counts"), lambda self, v: self._set("step_counts", v))
    episode_rewards_moving_avg = property(
        lambda self: self._get("episode_rewards_moving_avg"),
        lambda self, v: self._set("episode_rewards_moving_avg", v),
    )
    step_counts_moving_avg = property(
        lambda self: self._get("step_counts_moving_avg"), lambda self, v: self._set("step_counts_moving_avg", v)
    )
    episode_wall_times = property(
        lambda self: self._get("episode_wall_times"), lambda self, v: self._set("episode_wall_times", v)
    )
    episode_cpu_times = property(
        lambda self: self._get("episode_cpu_times"), lambda self, v: self._set("episode_cpu_times", v)
    )
    evaluation_episodes = property(
        lambda self: self._get("evaluation_episodes"), lambda self, v: self._set("evaluation_episodes", v)
    )
    evaluation_steps = property(
        lambda self: self._get("evaluation_steps"), lambda self, v: self._set("evaluation_steps", v)
    )

    # ------------------------------------------------------------ counters
    @property
    def episodes(self) -> int:
        """Training episodes recorded."""
        return len(self._arrays["episode_rewards"])

    @property
    def total_steps(self) -> int:
        """Training steps recorded (sum of ``step_counts``)."""
        return self._total_steps

    @property
    def total_wall_time(self) -> float:
        """Seconds of training episodes (sum of ``episode_wall_times``; evaluations excluded)."""
        return self._total_wall_time

    @property
    def total_cpu_time(self) -> float:
        """CPU seconds of training episodes (sum of ``episode_cpu_times``)."""
        return self._total_cpu_time

    # ------------------------------------------------------------- updates
    def update(
        self,
        episode_no: int,
        episode_reward: float,
        steps_count: int,
        wall_time: float,
        cpu_time: float,
        verbose: int = 0,
    ) -> None:
        """Record one finished training episode (academia's signature; ``episode_no`` is only logged)."""
        arrays = self._arrays
        arrays["episode_rewards"].append(episode_reward)
        arrays["step_counts"].append(steps_count)
        arrays["episode_wall_times"].append(wall_time)
        arrays["episode_cpu_times"].append(cpu_time)
        recent_rewards, recent_steps = self._recent_rewards, self._recent_steps
        recent_rewards.append(float(episode_reward))
        recent_steps.append(int(steps_count))
        reward_avg = sum(recent_rewards) / len(recent_rewards)
        steps_avg = sum(recent_steps) / len(recent_steps)
        arrays["episode_rewards_moving_avg"].append(reward_avg)
        arrays["step_counts_moving_avg"].append(steps_avg)
        self._total_steps += int(steps_count)
        self._total_wall_time += float(wall_time)
        self._total_cpu_time += float(cpu_time)
        log_at(
            logger,
            verbose,
            EACH_EPISODE,
            "Episode %d done: return %.4g (moving average %.4g), %d steps (moving average %.4g)",
            episode_no,
            episode_reward,
            reward_avg,
            steps_count,
            steps_avg,
        )

    def add_evaluation(self, score: float, verbose: int = 0) -> None:
        """Record the mean return of an evaluation run now (after ``episodes`` training episodes)."""
        self._arrays["agent_evaluations"].append(score)
        self._arrays["evaluation_episodes"].append(self.episodes)
        self._arrays["evaluation_steps"].append(self.total_steps)
        log_at(
            logger,
            verbose,
            EVALUATION_MEANS,
            "Evaluation after %d episodes (%d steps): mean return %.4g",
            self.episodes,
            self.total_steps,
            score,
        )

    def log_evaluation_episode(self, number: int, episode_return: float, verbose: int = 0) -> None:
        """Log one evaluation episode's return (verbosity 3); evaluations never reach the training arrays."""
        log_at(logger, verbose, EACH_EVALUATION, "Evaluation episode %d: return %.4g", number, episode_return)

    def add_task(self, task: Any) -> None:
        """Record the task of the training episode just recorded (when a curriculum chose it)."""
        self.episode_tasks.append(_plain(task))

    def add_stage_switch(self, from_stage: int, to_stage: int) -> None:
        """Record that the curriculum moved from ``from_stage`` to ``to_stage`` after the episodes recorded so far."""
        self.stage_switches.append(
            {
                "episode": self.episodes,
                "step": self.total_steps,
                "from_stage": int(from_stage),
                "to_stage": int(to_stage),
            }
        )

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """academia's fields first, then ours; everything JSON-ready."""
        data: dict[str, Any] = {name: self._get(name).tolist() for name in ACADEMIA_FIELDS if name in _ARRAY_FIELDS}
        data["evaluation_interval"] = self.evaluation_interval
        data["evaluation_episodes"] = self._get("evaluation_episodes").tolist()
        data["evaluation_steps"] = self._get("evaluation_steps").tolist()
        data["episode_tasks"] = list(self.episode_tasks)
        data["stage_switches"] = [dict(switch) for switch in self.stage_switches]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearningStats:
        """Rebuild stats from :meth:`to_dict`'s output, or from an academia stats JSON (our fields absent)."""
        missing = [name for name in ACADEMIA_FIELDS if name not in data]
        if missing:
            raise ValueError(f"learning stats need the fields {list(ACADEMIA_FIELDS)}; missing {missing}")
        stats = cls(int(data["evaluation_interval"]))
        for name in _ARRAY_FIELDS:
            if name in data:
                stats._set(name, data[name])
        stats.episode_tasks = list(data.get("episode_tasks", []))
        stats.stage_switches = [dict(switch) for switch in data.get("stage_switches", [])]
        return stats

    def save(self, path: str | os.PathLike) -> str:
        """Write the stats as JSON (``.stats.json`` appended unless the path ends in ``.json``); return the absolute path."""
        path = os.path.abspath(stats_path(path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.to_dict(), file, indent=2)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LearningStats:
        """Read stats written by :meth:`save` or by academia (``.stats.json`` appended unless it ends in ``.json``)."""
        with open(stats_path(path), encoding="utf-8") as file:
            return cls.from_dict(json.load(file))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LearningStats):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (
            f"LearningStats(episodes={self.episodes}, steps={self.total_steps}, "
            f"evaluations={len(self._arrays['agent_evaluations'])}, evaluation_interval={self.evaluation_interval})"
        )
