"""Apply a task to an environment at reset."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from syllabus_like.task_space import TaskSpace

__all__ = ["TaskWrapper"]


class TaskWrapper(gym.Wrapper):
    """Applies tasks from ``task_space`` to ``env`` at reset.

    A task is set for the next episode by ``reset(options={"task": task})``;
    it is checked against ``task_space`` (a :class:`TaskSpaceError` names both
    when it does not belong) and handed to :meth:`change_task` before the
    wrapped env resets. Without a ``"task"`` option the current task is kept.
    Every ``reset`` and ``step`` info carries ``info["task"]``.

    Subclass and override :meth:`change_task` for envs that do not know about
    tasks; by default it calls ``env.unwrapped.change_task(task)``.
    """

    def __init__(self, env: gym.Env, task_space: TaskSpace) -> None:
        if not isinstance(task_space, TaskSpace):
            raise TypeError(f"task_space must be a TaskSpace, got {task_space!r}")
        super().__init__(env)
        self.task_space = task_space
        self.task: Any = None

    def change_task(self, task: Any) -> None:
        """Reconfigure the wrapped env so that its next episode plays ``task``."""
        change = getattr(self.env.unwrapped, "change_task", None)
        if change is None:
            raise NotImplementedError(
                f"{type(self).__name__} cannot apply tasks to {self.env.unwrapped!r}: the env has no "
                "change_task(task) method; subclass TaskWrapper and override change_task"
            )
        change(task)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if options and "task" in options:
            options = dict(options)
            task = options.pop("task")
            self.task_space.encode(task)  # raises TaskSpaceError naming task and space
            self.change_task(task)
            self.task = task
        obs, info = self.env.reset(seed=seed, options=options or None)
        info["task"] = self.task
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["task"] = self.task
        return obs, reward, terminated, truncated, info
