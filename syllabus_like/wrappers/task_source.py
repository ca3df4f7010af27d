"""Where a curriculum wrapper's tasks come from: shared by the Gymnasium and PettingZoo curriculum wrappers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["ClosableTaskSource", "FollowsTaskSource", "TaskSource"]


@runtime_checkable
class TaskSource(Protocol):
    """Where a curriculum wrapper's tasks come from: a :class:`~syllabus_like.Curriculum` or a task-server client.

    Everything :class:`~syllabus_like.wrappers.CurriculumWrapper` (and the
    PettingZoo one) uses: draw tasks, read whether step results are wanted,
    report steps and episodes. A source may also have a ``close()``
    (:class:`ClosableTaskSource`), which the wrapper's ``close()`` calls.
    """

    @property
    def requires_step_updates(self) -> bool:
        """Whether episodes starting now should report every step (read at every reset)."""
        ...

    def sample(self, k: int = 1) -> list:
        """``k`` tasks, decoded."""
        ...

    def update_on_step(
        self,
        task: Any,
        obs: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict,
        progress: float = 0.0,
        env_id: int | None = None,
    ) -> None:
        """One environment step's result (sent only while :attr:`requires_step_updates`)."""
        ...

    def update_on_episode(
        self,
        episode_return: float,
        length: int,
        task: Any,
        progress: float = 0.0,
        env_id: int | None = None,
        score: float | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """One finished episode, with its learning-potential ``score`` and user ``metrics`` when known."""
        ...


@runtime_checkable
class ClosableTaskSource(TaskSource, Protocol):
    """A task source that holds resources (a task-server client's buffered reports): the wrapper closes it."""

    def close(self) -> None:
        """Deliver what is buffered and release the resources."""
        ...


#: The methods a task source must have (checked first), then its ``requires_step_updates`` flag.
_REQUIRED_METHODS = ("sample", "update_on_episode", "update_on_step")


class FollowsTaskSource:
    """Mixin for wrappers that play, each episode, a task drawn from a curriculum or a task-server client.

    The host class sets ``self.env`` (the wrapped env) and calls
    :meth:`_init_source` before anything else. A task reaches the env through
    the first ``task_wrapper_type`` wrapper inside it (its ``apply_task``,
    which validates and applies it), or, when there is none, through
    ``env.unwrapped.change_task``. The host never steps past that wrapper nor
    changes its settings: wrappers compose the Gymnasium way.
    """

    env: Any

    def _init_source(self, env: Any, source: Any, task_wrapper_type: type, wrapper_base: type) -> None:
        """Check ``source`` and that tasks can reach ``env``; record both. TypeError naming what is missing."""
        missing = [name for name in _REQUIRED_METHODS if not callable(getattr(source, name, None))]
        if not missing and not hasattr(source, "requires_step_updates"):
            missing = ["requires_step_updates"]
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
        self.source: TaskSource = source
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
