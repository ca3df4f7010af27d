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
    the first ``task_wrapper_type`` wrapper inside it (its ``apply_task``,
    which validates and applies it), or, when there is none, through
    ``env.unwrapped.change_task``. That task wrapper stops writing the task
    into infos (``tags_infos``): the host writes it where it was asked to.
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
        if self._task_wrapper is not None:
            self._task_wrapper.tags_infos = False  # the host writes the task into infos itself
        if self._task_wrapper is None and not callable(getattr(env.unwrapped, "change_task", None)):
            raise TypeError(
                f"{type(self).__name__} cannot apply tasks to {env.unwrapped!r}: wrap it in a "
                f"{task_wrapper_type.__name__} subclass or give the env a change_task(task) method"
            )
        self.source = source
        self.task: Any = None

    def _next_task(self, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
        """Pick the next episode's task, apply it, and return it with the options left for ``reset``.

        An explicit ``options["task"]`` wins over the source. The task goes
        straight to the task wrapper inside (:meth:`AppliesTasks.apply_task`,
        which validates it) or to ``env.unwrapped.change_task``; it is taken
        out of the options, so the wrappers below reset as if none was given.
        """
        if options and "task" in options:
            options = dict(options)
            task = options.pop("task")
        else:
            task = self.source.sample(1)[0]
        if self._task_wrapper is not None:
            self._task_wrapper.apply_task(task)
        else:
            self.env.unwrapped.change_task(task)
        return task, options or None
