"""Apply a task by building a fresh environment for it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import gymnasium as gym
import numpy as np

from syllabus_like.task_space import TaskSpace, encoding_key
from syllabus_like.wrappers.task_wrapper import TaskWrapper

__all__ = ["ReinitTaskWrapper"]

logger = logging.getLogger(__name__)


class ReinitTaskWrapper(TaskWrapper):
    """A :class:`TaskWrapper` for envs that cannot change task in place.

    Some environments fix their task when they are constructed (a level file,
    a map size, a physics parameter baked into a simulator). For those,
    ``env_fn(task)`` builds an env playing ``task``, and this wrapper swaps the
    env it wraps at ``reset(options={"task": task})``. :class:`CurriculumWrapper`
    drives it like any other :class:`TaskWrapper`.

    The ``cache_size`` most recently used envs are kept, keyed by the task's
    encoding in ``task_space`` (so unhashable tasks such as arrays or dicts
    work), and reused when their task comes back; the least recently used one
    is closed when the cache is full. A task is checked against ``task_space``
    before anything is built (:class:`TaskSpaceError` naming the task and the
    space).

    Every env must have the same observation and action spaces as the first
    one, since a learner sees one env: a built env whose spaces differ is
    closed and a ``ValueError`` names its task and both spaces.

    The first env is built at construction, for ``initial_task`` (by default
    the first task of a finite space, or a task drawn from a generator seeded
    with 0 for an infinite one), and is the one played until a task is set.

    Seeding: a newly built env reset without a seed gets one drawn from this
    wrapper's generator, which ``reset(seed=s)`` reseeds, so a run seeded once
    stays reproducible across rebuilt envs.

    :meth:`close` closes every cached env exactly once.
    """

    _fixed_env = False  # reset swaps self.env for the task's env

    def __init__(
        self,
        env_fn: Callable[[Any], gym.Env],
        task_space: TaskSpace,
        *,
        cache_size: int = 8,
        initial_task: Any = None,
    ) -> None:
        if not callable(env_fn):
            raise TypeError(f"env_fn must be a callable task -> gymnasium.Env, got {env_fn!r}")
        if not isinstance(task_space, TaskSpace):
            raise TypeError(f"task_space must be a TaskSpace, got {task_space!r}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, (int, np.integer)) or cache_size < 1:
            raise ValueError(f"cache_size must be an int >= 1, got {cache_size!r}")
        if initial_task is None:
            initial_task = (
                task_space.decode(0)
                if task_space.num_tasks is not None
                else task_space.sample(np.random.default_rng(0))
            )
        key = self._key(task_space, initial_task)  # raises TaskSpaceError before building
        self.env_fn = env_fn
        self.cache_size = int(cache_size)
        first_env = self._build(initial_task)
        super().__init__(first_env, task_space)
        # The spaces every later env must match: pinned, so swapping envs never changes them.
        self.observation_space = first_env.observation_space
        self.action_space = first_env.action_space
        # task key -> (task, env), least recently used first.
        self._cache: OrderedDict[Hashable, tuple[Any, gym.Env]] = OrderedDict([(key, (initial_task, first_env))])
        self._never_reset: set[int] = {id(first_env)}
        self._seed_rng = np.random.default_rng()
        self._closed = False
        self.task = initial_task

    @staticmethod
    def _key(task_space: TaskSpace, task: Any) -> Hashable:
        return encoding_key(task_space.encode(task))

    def _build(self, task: Any) -> gym.Env:
        env = self.env_fn(task)
        if not isinstance(env, gym.Env):
            raise TypeError(f"env_fn({task!r}) must return a gymnasium.Env, got {env!r}")
        return env

    @property
    def cached_tasks(self) -> list:
        """The tasks whose envs are cached, least recently used first (the current one last)."""
        return [task for task, _ in self._cache.values()]

    def apply_task(self, task: Any) -> None:
        """Make ``task`` the next episode's task; :meth:`change_task` validates it before building anything."""
        self.change_task(task)
        self.task = task

    def change_task(self, task: Any) -> None:
        """Make the env for ``task`` the wrapped env, building it if it is not cached."""
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed; cannot change task to {task!r}")
        key = self._key(self.task_space, task)
        entry = self._cache.get(key)
        if entry is None:
            env = self._build(task)
            for kind, expected, got in (
                ("observation", self.observation_space, env.observation_space),
                ("action", self.action_space, env.action_space),
            ):
                if got != expected:
                    env.close()
                    raise ValueError(
                        f"env_fn({task!r}) built an env whose {kind} space {got} differs from "
                        f"the first env's {expected}; every task's env must share the same spaces"
                    )
            self._cache[key] = (task, env)
            self._never_reset.add(id(env))
            self._evict()
        else:
            env = entry[1]
            self._cache.move_to_end(key)
        self.env = env

    def _evict(self) -> None:
        while len(self._cache) > self.cache_size:
            _, (_, evicted) = self._cache.popitem(last=False)
            self._never_reset.discard(id(evicted))
            logger.debug("closing evicted env %r", evicted)
            evicted.close()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed; reset() needs a new wrapper")
        if seed is not None:
            self._seed_rng = np.random.default_rng(seed)
        options = self._apply_task_option(options)
        if id(self.env) in self._never_reset:
            self._never_reset.discard(id(self.env))
            if seed is None:
                seed = int(self._seed_rng.integers(2**31))
        obs, info = self.env.reset(seed=seed, options=options)
        if self.tags_infos:
            info["task"] = self.task
        return obs, info

    def close(self) -> None:
        """Close every cached env (each once); calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        while self._cache:
            _, (_, env) = self._cache.popitem(last=False)
            env.close()
        self._never_reset.clear()
