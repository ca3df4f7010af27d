"""Feed an environment tasks from a curriculum (or a task-server client) and report back."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from syllabus_like.wrappers.task_source import FollowsTaskSource
from syllabus_like.wrappers.task_wrapper import TaskWrapper

__all__ = ["CurriculumWrapper"]

_TASK_INFO_MODES = ("every_step", "reset")


class CurriculumWrapper(FollowsTaskSource, gym.Wrapper):
    """Picks the next task at every reset and reports every finished episode.

    ``source`` is a :class:`~syllabus_like.Curriculum` in this process, or a
    task-server client (anything with ``sample``, ``update_on_episode``,
    ``update_on_step`` and ``requires_step_updates``).

    The task is applied through a :class:`TaskWrapper` inside ``env`` when
    there is one (as ``reset(options={"task": task})``), otherwise through
    ``env.unwrapped.change_task(task)``. An explicit ``reset(options={"task": t})``
    wins over the curriculum. Each finished episode (terminated or truncated)
    is reported with its return, length, task and progress, taken from
    ``info["task_completion"]`` when the env provides it. Step updates are sent
    only while ``source.requires_step_updates`` is true. An episode abandoned by
    an early ``reset()`` is not reported. Works under Gymnasium vector envs'
    autoreset, since every sub-env has its own wrapper. ``close()`` also closes
    a source that has a ``close()`` method: a task-server client then delivers
    the reports it still buffers (and reconnects if it is used again).

    ``task_info`` says where the task appears in infos: ``"every_step"`` (the
    default) puts ``info["task"]`` in every reset and step info; ``"reset"``
    only in reset infos. In a Gymnasium vector env a sub-env's reset info
    arrives with the step on which it autoresets, so ``infos["task"]`` (masked
    by ``infos["_task"]``) still tells a training loop each new task, and the
    current ones are ``envs.get_attr("task")``. The difference is speed: a
    vector env aggregates every info key of every sub-env on every step, which
    for an env as fast as CartPole costs about 10 % of the throughput (see
    ``docs/benchmarks.md``).
    """

    def __init__(
        self, env: gym.Env, source: Any, *, env_id: int | None = None, task_info: str = "every_step"
    ) -> None:
        self._init_source(env, source, TaskWrapper, gym.Wrapper)
        if task_info not in _TASK_INFO_MODES:
            raise ValueError(f"task_info must be one of {_TASK_INFO_MODES}, got {task_info!r}")
        super().__init__(env)
        self.env_id = env_id
        self._task_in_step_info = task_info == "every_step"
        self._episode_return = 0.0
        self._episode_length = 0
        # Hot path: when the env directly inside is a TaskWrapper that keeps TaskWrapper.step, step
        # the env below it (looked up at every step: a ReinitTaskWrapper swaps it). That step()
        # only writes info["task"], which this wrapper writes when task_info asks for it.
        self._skip_task_wrapper_step = self._task_wrapper is env and type(env).step is TaskWrapper.step

    @property
    def task_info(self) -> str:
        """Where the task appears in infos: ``"every_step"`` or ``"reset"`` (fixed at construction)."""
        return "every_step" if self._task_in_step_info else "reset"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        task, options = self._next_task(options)
        obs, info = self.env.reset(seed=seed, options=options)
        self.task = task
        info["task"] = task
        self._episode_return = 0.0
        self._episode_length = 0
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        if self._skip_task_wrapper_step:
            obs, reward, terminated, truncated, info = self.env.env.step(action)
        else:
            obs, reward, terminated, truncated, info = self.env.step(action)
        task = self.task
        if self._task_in_step_info:
            info["task"] = task
        self._episode_return += float(reward)
        self._episode_length += 1
        source = self.source
        if source.requires_step_updates:
            progress = float(info.get("task_completion", 0.0))
            source.update_on_step(task, obs, reward, terminated, truncated, info, progress, env_id=self.env_id)
        if terminated or truncated:
            source.update_on_episode(
                self._episode_return,
                self._episode_length,
                task,
                float(info.get("task_completion", 0.0)),
                env_id=self.env_id,
            )
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Close the source if it has a ``close()`` (a task-server client delivers the
        reports it still buffers, so none is lost), then the env."""
        try:
            close_source = getattr(self.source, "close", None)
            if callable(close_source):
                close_source()
        finally:
            super().close()
