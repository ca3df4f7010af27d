"""Functional curricula in a training run: an environment whose every reset draws its task.

:class:`CurriculumEnv` joins a task-parameterised environment, a
:class:`~syllabus_like.jax.environment.TaskTable` and a functional curriculum
of :mod:`syllabus_like.jax.curricula` (``DomainRandomization``,
``SequentialCurriculum``, ``PrioritizedLevelReplay``, ...), so that *each
environment plays its own task*, drawn at its reset; :class:`CurriculumCallback`
updates the curriculum from the finished episodes after each iteration.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Int, Key, PyTree

from syllabus_like.jax.curricula.base import AbstractCurriculum
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.level_scores import EpisodeAccumulator, episode_means, max_mc_scores
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.jax.training.callback import AbstractIterationCallback, IterationContext, ResetContext
from syllabus_like.jax.training.state import AbstractAlgorithmState

__all__ = ["CurriculumCallback", "CurriculumCallbackState", "CurriculumEnv", "CurriculumEnvState"]

_State = TypeVar("_State", bound=AbstractAlgorithmState)


class CurriculumEnvState(eqx.Module):
    """State of one :class:`CurriculumEnv`: the inner environment's state and the task it plays."""

    env_state: PyTree
    task_id: Int[Array, ""]


class CurriculumEnv(AbstractEnvironment[CurriculumEnvState]):
    """A task-parameterised environment whose resets draw tasks from a functional curriculum.

    The training loop only knows ``reset(key)`` / ``step(key, state, action)``;
    this adapter turns a :class:`~syllabus_like.jax.environment.TaskTable`
    plus a functional curriculum (:class:`~syllabus_like.jax.DomainRandomization`,
    :class:`~syllabus_like.jax.SequentialCurriculum`,
    :class:`~syllabus_like.jax.PrioritizedLevelReplay`, ...) into that
    protocol: every reset draws a task id from ``curriculum_state`` and plays
    ``tasks.apply(env, task_id)`` until the episode ends; ``info["task_id"]``
    reports it. Use it with :class:`CurriculumCallback`, which updates the
    curriculum from the finished episodes after every iteration and copies
    the new state here before the next one (during an iteration the
    distribution is fixed, as in :func:`~syllabus_like.jax.rollout`).

    Cost: the training loop resets through ``vmap``, so each reset draws
    its own sample (one uniform number and an ``O(num_tasks)`` cumulative
    sum for the weighted curricula); fine for tens or hundreds of tasks. For
    thousands of tasks, :func:`~syllabus_like.jax.rollout` batches the draws.

    Args:
        env: the environment; fields not set by ``tasks`` are shared by every task.
        tasks: the task table (``curriculum.num_tasks`` tasks).
        curriculum: the functional curriculum.
        key: initialises the curriculum state (``curriculum.init(key)``).
    """

    env: AbstractEnvironment
    tasks: TaskTable
    curriculum: AbstractCurriculum
    curriculum_state: PyTree

    def __init__(
        self,
        env: AbstractEnvironment,
        tasks: TaskTable,
        curriculum: AbstractCurriculum,
        *,
        key: Key[Array, ""],
        curriculum_state: PyTree | None = None,
    ) -> None:
        if not isinstance(env, AbstractEnvironment):
            raise TypeError(f"CurriculumEnv: env must be a syllabus_like.jax AbstractEnvironment, got {type(env).__name__}")
        if not isinstance(tasks, TaskTable):
            raise TypeError(f"CurriculumEnv: tasks must be a TaskTable, got {type(tasks).__name__}")
        if not isinstance(curriculum, AbstractCurriculum):
            raise TypeError(
                f"CurriculumEnv: curriculum must be a syllabus_like.jax functional curriculum, got {type(curriculum).__name__}"
            )
        if curriculum.num_tasks != tasks.num_tasks:
            raise ValueError(
                f"CurriculumEnv: the curriculum has {curriculum.num_tasks} tasks but the task table has {tasks.num_tasks}"
            )
        self.env = env
        self.tasks = tasks
        self.curriculum = curriculum
        self.curriculum_state = curriculum.init(key) if curriculum_state is None else curriculum_state

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def reset(self, key: Key[Array, ""]) -> tuple[CurriculumEnvState, PyTree]:
        sample_key, reset_key = jax.random.split(key)
        _, task_ids = self.curriculum.sample(self.curriculum_state, sample_key, 1)
        task_id = task_ids[0]
        env_state, observation = self.tasks.apply(self.env, task_id).reset(reset_key)
        return CurriculumEnvState(env_state, task_id), observation

    def step(
        self, key: Key[Array, ""], state: CurriculumEnvState, action: ArrayLike
    ) -> tuple[CurriculumEnvState, PyTree, Array, Bool[Array, ""], Bool[Array, ""], dict[str, Array]]:
        env_state, observation, reward, terminated, truncated, info = self.tasks.apply(self.env, state.task_id).step(
            key, state.env_state, action
        )
        info = {**info, "task_id": state.task_id}
        return CurriculumEnvState(env_state, state.task_id), observation, reward, terminated, truncated, info


class CurriculumCallbackState(eqx.Module):
    """Iteration-level state of :class:`CurriculumCallback`.

    Attributes:
        curriculum: the functional curriculum's state (the authoritative copy).
        score_accumulator: per-environment sums for episodes that span
            iterations (positive value loss or values, for the episode scores).
    """

    curriculum: PyTree
    score_accumulator: EpisodeAccumulator


class CurriculumCallback(AbstractIterationCallback):
    """Drives the functional curriculum of a :class:`CurriculumEnv` inside ``learn``.

    After every iteration it builds a ``[T, B]``
    :class:`~syllabus_like.jax.EpisodeBatch` of the episodes that ended
    during the rollout (task id, return, length, ``info["task_completion"]``
    as progress, and a score), counts the tasks the resets drew
    (``curriculum.sample(..., mask=done)``, so counters such as a
    sequential curriculum's ``tasks`` are exact), updates the curriculum, and
    before the next iteration copies its state into the environment.

    Episode scores (for :class:`~syllabus_like.jax.PrioritizedLevelReplay`;
    other curricula ignore them), from the algorithm's own advantages and
    values (``IterationContext.locals["rollout"]``, which PPO provides):

    * ``"positive_value_loss"``: ``mean_t max(A_t, 0)`` over the episode, with
      ``A_t`` the algorithm's GAE advantages (Jiang et al., 2021);
    * ``"max_mc"``: ``max(R_max, G) - mean_t V(s_t)``, with ``R_max`` the best
      return on the level so far (needs a curriculum with ``max_returns``);
    * ``"none"``: no score.
    """

    score: str = eqx.field(static=True)

    def __init__(self, score: str = "positive_value_loss") -> None:
        if score not in ("positive_value_loss", "max_mc", "none"):
            raise ValueError(
                f"CurriculumCallback: score must be 'positive_value_loss', 'max_mc' or 'none', got {score!r}"
            )
        self.score = score

    def _curriculum_env(self, env: PyTree) -> CurriculumEnv:
        if not isinstance(env, CurriculumEnv):
            raise TypeError(
                "CurriculumCallback needs the training environment to be a CurriculumEnv "
                f"(a task env + task table + functional curriculum), got {type(env).__name__}"
            )
        if self.score == "max_mc" and not callable(getattr(env.curriculum, "max_returns", None)):
            raise TypeError(
                f"CurriculumCallback(score='max_mc') needs a curriculum with max_returns(state) "
                f"(PrioritizedLevelReplay); {type(env.curriculum).__name__} has none"
            )
        return env

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> CurriculumCallbackState:
        env = self._curriculum_env(ctx.env)
        num_envs = ctx.locals["num_envs"]
        # The algorithm's first reset drew one task per environment: count those draws.
        curriculum_state, _ = env.curriculum.sample(env.curriculum_state, key, num_envs)
        return CurriculumCallbackState(curriculum_state, EpisodeAccumulator.zeros(num_envs))

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> CurriculumCallbackState:
        env = self._curriculum_env(ctx.env)
        rollout = ctx.locals.get("rollout")
        if rollout is None:
            raise ValueError(
                "CurriculumCallback needs an algorithm that reports its rollout in "
                "IterationContext.locals['rollout'] ([T, B] arrays, as PPO does)"
            )
        state: CurriculumCallbackState = ctx.state
        done = rollout["done"]
        info = rollout["info"]
        task_id = info["task_id"]
        accumulator = state.score_accumulator
        if self.score == "positive_value_loss":
            score, accumulator = episode_means(jnp.maximum(rollout["advantage"], 0.0), done, accumulator)
        elif self.score == "max_mc":
            mean_value, accumulator = episode_means(rollout["value"], done, accumulator)
            score = max_mc_scores(env.curriculum.max_returns(state.curriculum), task_id, rollout["episode_return"], mean_value)
        else:
            score = None
        progress = info.get("task_completion", jnp.zeros_like(rollout["reward"]))
        episodes = EpisodeBatch(
            task_id, rollout["episode_return"], rollout["episode_length"], progress=progress, done=done, score=score
        )
        # Every finished episode was followed by a reset that drew a task: count those draws, then learn.
        curriculum_state, _ = env.curriculum.sample(state.curriculum, key, done.size, mask=done.reshape(-1))
        curriculum_state = env.curriculum.update(curriculum_state, episodes)
        return CurriculumCallbackState(curriculum_state, accumulator)

    def apply_curriculum(self, state: _State, callback_state: CurriculumCallbackState) -> tuple[_State, CurriculumCallbackState]:
        env = eqx.tree_at(lambda e: e.curriculum_state, state.env, callback_state.curriculum)
        return dataclasses.replace(state, env=env), callback_state
