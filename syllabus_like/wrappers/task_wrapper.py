"""Apply a task to an environment at reset."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from syllabus_like.task_space import TaskSpace
from syllabus_like.wrappers.task_application import AppliesTasks

__all__ = ["TaskWrapper"]


class TaskWrapper(AppliesTasks, gym.Wrapper):
    """Applies tasks from ``task_space`` to ``env`` at reset.

    A task is set for the next episode by ``reset(options={"task": task})``;
    it is checked against ``task_space`` (a :class:`TaskSpaceError` names both
    when it does not belong) and handed to :meth:`change_task` before the
    wrapped env resets. Without a ``"task"`` option the current task is kept.
    Every ``reset`` and ``step`` info carries ``info["task"]`` unless it is
    built with ``tags_infos=False`` (fixed at construction).

    Subclass and override :meth:`change_task` for envs that do not know about
    tasks; by default it calls ``env.unwrapped.change_task(task)``.
    """

    _subclass_hint = "TaskWrapper"
    #: Whether a step may go straight to the wrapped env's ``step`` when this wrapper adds nothing
    #: to it (False for a subclass that swaps ``self.env``, such as ReinitTaskWrapper).
    _fixed_env = True

    def __init__(self, env: gym.Env, task_space: TaskSpace, *, tags_infos: bool = True) -> None:
        self._init_tasks(task_space, tags_infos)
        super().__init__(env)
        if not tags_infos and self._fixed_env and type(self).step is TaskWrapper.step:
            # Nothing to add to a step: this wrapper's step *is* the wrapped env's (one call less per
            # step on the hot path; callers, a CurriculumWrapper included, still call this wrapper's step).
            self.step = env.step  # type: ignore[method-assign]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if options:
            options = self._apply_task_option(options)
        obs, info = self.env.reset(seed=seed, options=options or None)
        if self.tags_infos:
            info["task"] = self.task
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        result = self.env.step(action)  # (obs, reward, terminated, truncated, info), passed on as it came
        if self.tags_infos:
            result[4]["task"] = self.task
        return result
