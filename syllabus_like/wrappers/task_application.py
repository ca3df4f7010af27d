"""How a wrapper applies a task: shared by the Gymnasium and PettingZoo task wrappers."""

from __future__ import annotations

from typing import Any

from syllabus_like.task_space import TaskSpace

__all__ = ["AppliesTasks"]


class AppliesTasks:
    """Mixin for wrappers that apply a task: :meth:`apply_task`, or ``reset(options={"task": ...})``.

    The host class sets ``self.env`` (the wrapped env); :meth:`_init_tasks`
    records the task space. ``change_task`` defaults to the env's own
    ``change_task``; subclasses override it for envs that have none.
    """

    #: The class name users should subclass, for error messages (set by each host class).
    _subclass_hint: str
    #: Whether reset and step infos carry ``info["task"]`` (a constructor
    #: argument; a curriculum wrapper outside reads it and never changes it).
    tags_infos: bool = True
    env: Any

    def _init_tasks(self, task_space: TaskSpace, tags_infos: bool = True) -> None:
        if not isinstance(task_space, TaskSpace):
            raise TypeError(f"task_space must be a TaskSpace, got {task_space!r}")
        if not isinstance(tags_infos, bool):
            raise TypeError(f"tags_infos must be True or False, got {tags_infos!r}")
        self.task_space = task_space
        self.tags_infos = tags_infos
        self.task: Any = None

    def change_task(self, task: Any) -> None:
        """Reconfigure the wrapped env so that its next episode plays ``task``."""
        change = getattr(self.env.unwrapped, "change_task", None)
        if change is None:
            raise NotImplementedError(
                f"{type(self).__name__} cannot apply tasks to {self.env.unwrapped!r}: the env has no "
                f"change_task(task) method; subclass {self._subclass_hint} and override change_task"
            )
        change(task)

    def apply_task(self, task: Any) -> None:
        """Check ``task`` against the task space, then make it the next episode's task."""
        self.task_space.encode(task)  # raises TaskSpaceError naming task and space
        self.change_task(task)
        self.task = task

    def _apply_task_option(self, options: dict[str, Any] | None) -> dict[str, Any] | None:
        """Apply ``options["task"]`` if given (validated first); return the options left for the env."""
        if not options or "task" not in options:
            return options or None
        options = dict(options)
        self.apply_task(options.pop("task"))
        return options or None
