"""The Gymnasium wrapper that records a learning task's training statistics.

Statistics are gathered on the env, not in the training loop, so that the
same :class:`LearningStats` fill up whoever owns the loop: the learning task's
own runner, or a trainer such as Stable-Baselines3 stepping the env itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym

from syllabus_like.experiment.stats import LearningStats

__all__ = ["EpisodeStatistics"]


class EpisodeStatistics(gym.Wrapper):
    """Records every finished episode (return, length, wall and CPU time) into ``stats``.

    When ``curriculum`` is given (the curriculum of a
    :class:`~syllabus_like.wrappers.CurriculumWrapper` inside ``env``), each
    episode's task (the wrapper's ``task``) goes into ``stats.episode_tasks``,
    and a change of the curriculum's ``stage`` (read, if it has one, after each
    episode is reported and after each reset, where a sequential curriculum
    also checks its conditions) goes into ``stats.stage_switches``.

    ``on_episode(stats)`` is called after each recorded episode (the learning
    task's runner uses it for progress). An episode abandoned by an early
    ``reset()`` is not recorded, as with :class:`CurriculumWrapper`.
    """

    def __init__(
        self,
        env: gym.Env,
        stats: LearningStats,
        *,
        curriculum: Any = None,
        verbose: int = 0,
        on_episode: Callable[[LearningStats], None] | None = None,
    ) -> None:
        super().__init__(env)
        self.stats = stats
        self.curriculum = curriculum
        self.verbose = verbose
        self.on_episode = on_episode
        self._episode_return = 0.0
        self._episode_length = 0
        self._wall_start = time.perf_counter()
        self._cpu_start = time.process_time()
        self._stage = self._current_stage()
        self._env_step = env.step  # bound once: the step below is on every environment step

    def _current_stage(self) -> int | None:
        stage = getattr(self.curriculum, "stage", None)
        return None if stage is None else int(stage)

    def _note_stage(self) -> None:
        stage = self._current_stage()
        if stage is not None and stage != self._stage:
            self.stats.add_stage_switch(self._stage if self._stage is not None else 0, stage)
            self._stage = stage

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        result = self.env.reset(seed=seed, options=options)
        if self.curriculum is not None:
            self._note_stage()
        self._episode_return = 0.0
        self._episode_length = 0
        self._wall_start = time.perf_counter()
        self._cpu_start = time.process_time()
        return result

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        result = self._env_step(action)
        self._episode_return += result[1]  # type: ignore[operator]
        self._episode_length += 1
        if result[2] or result[3]:
            self.record_episode(self._episode_return, self._episode_length)
        return result

    def record_episode(self, episode_return: float, length: int) -> None:
        """Record the episode that started at the last reset and just ended, with its return and length.

        :meth:`step` calls this when an episode ends. A loop that already sums
        each episode's reward and counts its steps may step the env inside
        (``self.env``) and call this itself at the end of each episode: the
        learning task's runner does, which saves a Python call per step.
        """
        stats = self.stats
        stats.update(
            stats.episodes + 1,
            float(episode_return),
            length,
            time.perf_counter() - self._wall_start,
            time.process_time() - self._cpu_start,
            self.verbose,
        )
        if self.curriculum is not None:
            try:
                task = self.env.task  # the CurriculumWrapper itself, as in a LearningTask
            except AttributeError:
                task = self.env.get_wrapper_attr("task")  # a wrapper further in
            stats.add_task(task)
            self._note_stage()
        if self.on_episode is not None:
            self.on_episode(stats)
