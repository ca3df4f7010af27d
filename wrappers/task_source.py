"""Where a curriculum wrapper's tasks come from: shared by the Gymnasium and PettingZoo curriculum wrappers."""

from __future__ import annotations

from typing import Any

__all__ = ["FollowsTaskSource"]

#: What a task source (a Curriculum or a task-server client) must provide.
TASK_SOURCE_METHODS = ("sample", "update_on_episode", "update_on_step")


class FollowsTaskSource:
    """Mixin for wrappers that play, each episode, a task drawn from a curriculum or a task-server client.

    The host class sets ``self.env`` (the wrapped env) and calls
    :meth:`_init_source` before anything else. A task reaches the env through
    the first ``task_wrapper_type`` wrapper inside it (as
    ``reset(options={"task": task})``, which that wrapper validates and
    applies), or, when there is none, through ``env.unwrapped.change_task``.
    """

    env: Any

    def _init_source(self, env: Any, source: Any, task_wrapper_type: type, wrapper_base: type) -> None:
        """Check ``source`` and that tasks can reach ``env``; record both. TypeError naming what is missing."""
        missing = [name for name in TASK_SOURCE_METHODS if not callable(getattr(source, name, None))]
        if missing:
            raise TypeError(
                f"{type(self).__name__} needs a Curriculum or a task-server client; {source!r} lacks {missing}"
            )
        task_wrapper = env
        while isinstance(task_wrapper, wrapper_base) and not isinstance(task_wrapper, task_wrapper_type):
            task_wrapper = task_wrapper.env
        self._task_wrapper = task_wrapper if isinstance(task_wrapper, task_wrapper_type) else None
        if self._task_wrapper is None and not callable(getattr(env.unwrapped, "change_task", None)):
            raise TypeError(
                f"{type(self).__name__} cannot apply tasks to {env.unwrapped!r}: wrap it in a "
                f"{task_wrapper_type.__name__} subclass or give the env a change_task(task) method"
            )
        self.source = source
        self.task: Any = None

    def _next_task(self, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
        """The next episode's task and the options for the wrapped env's ``reset``.

        An explicit ``options["task"]`` wins over the source. With a task
        wrapper inside, the options carry the task to it; otherwise the task
        is applied here and left out of the options.
        """
        options = dict(options) if options else {}
        task = options["task"] if "task" in options else self.source.sample(1)[0]
        if self._task_wrapper is not None:
            options["task"] = task
        else:
            options.pop("task", None)
            self.env.unwrapped.change_task(task)
        return task, options or None
