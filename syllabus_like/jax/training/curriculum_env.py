"""Functional curricula in a training run: an environment whose every reset draws its task.

:class:`CurriculumEnv` joins a task-parameterised environment, a
:class:`~syllabus_like.jax.environment.TaskTable` and a functional curriculum
of :mod:`syllabus_like.jax.curricula` (``DomainRandomization``,
``SequentialCurriculum``, ``PrioritizedLevelReplay``, ...), so that *each
environment plays its own task*, drawn at its reset.

The curriculum state lives in one place: the algorithm's step state
(:attr:`PPOStepState.curriculum_state <syllabus_like.jax.training.ppo.PPOStepState>`,
as :attr:`RolloutState.curriculum_state <syllabus_like.jax.RolloutState>` in
:func:`~syllabus_like.jax.rollout`). PPO draws from it once per reset, with
the finished environments as the mask, through the rollout's own reset path
(:func:`~syllabus_like.jax.rollout.reset_finished`), and after each iteration
updates it from the finished episodes of its typed rollout record. During an
iteration the distribution is fixed, as in :func:`~syllabus_like.jax.rollout`.
:class:`CurriculumCallback` is optional: it records the curriculum's metrics.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
from jaxtyping import Array, ArrayLike, Bool, Int, Key, PyTree

from syllabus_like.jax.curricula.base import AbstractCurriculum
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.jax.training.callback import AbstractIterationCallback, IterationContext, ResetContext

__all__ = ["CurriculumCallback", "CurriculumEnv", "CurriculumEnvState", "EpisodeScore"]

#: How PPO scores a finished episode for the curriculum (PrioritizedLevelReplay uses scores; others ignore them).
EpisodeScore = Literal["positive_value_loss", "max_mc", "none"]
_SCORES = ("positive_value_loss", "max_mc", "none")


def _check_score(owner: str, score: object) -> str:
    if score not in _SCORES:
        raise ValueError(f"{owner}: score must be 'positive_value_loss', 'max_mc' or 'none', got {score!r}")
    return str(score)


def _check_max_mc(owner: str, score: str, curriculum: AbstractCurriculum) -> None:
    if score == "max_mc" and not callable(getattr(curriculum, "max_returns", None)):
        raise TypeError(
            f"{owner}(score='max_mc') needs a curriculum with max_returns(state) "
            f"(PrioritizedLevelReplay); {type(curriculum).__name__} has none"
        )


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
    protocol: each environment plays ``tasks.apply(env, task_id)`` until its
    episode ends; ``info["task_id"]`` reports the task. PPO recognises it:
    the curriculum state moves into PPO's step state at the start of a run
    (see the module docstring), every reset draws one task from there, and
    the finished episodes update it after every iteration. This module
    keeps only the *initial* state and is never written during training.

    Called on its own (outside PPO), :meth:`reset` draws from the initial
    state: a fixed distribution.

    Args:
        env: the environment; fields not set by ``tasks`` are shared by every task.
        tasks: the task table (``curriculum.num_tasks`` tasks).
        curriculum: the functional curriculum.
        key: initialises the curriculum state (``curriculum.init(key)``).
        curriculum_state: the initial state instead (e.g. restored from a checkpoint).
        score: how PPO scores each finished episode for the curriculum:
            ``"positive_value_loss"`` (default: ``mean_t max(A_t, 0)`` with PPO's
            GAE advantages, Jiang et al., 2021), ``"max_mc"``
            (``max(R_max, G) - mean_t V(s_t)``, needs a curriculum with
            ``max_returns``) or ``"none"``.
    """

    env: AbstractEnvironment
    tasks: TaskTable
    curriculum: AbstractCurriculum
    curriculum_state: PyTree
    score: str = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnvironment,
        tasks: TaskTable,
        curriculum: AbstractCurriculum,
        *,
        key: Key[Array, ""],
        curriculum_state: PyTree | None = None,
        score: EpisodeScore = "positive_value_loss",
    ) -> None:
        if not isinstance(env, AbstractEnvironment):
            raise TypeError(
                f"CurriculumEnv: env must be a syllabus_like.jax AbstractEnvironment, got {type(env).__name__}"
            )
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
        self.score = _check_score("CurriculumEnv", score)
        _check_max_mc("CurriculumEnv", self.score, curriculum)
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


class CurriculumCallback(AbstractIterationCallback[dict]):
    """Records the curriculum's metrics after every iteration of a run on a :class:`CurriculumEnv`.

    Not needed to drive the curriculum (PPO does that; see the module
    docstring). Its iteration-level state is
    ``curriculum.metrics(state)`` of the live curriculum state after the
    iteration's update (e.g. a sequential curriculum's ``stage``), a dict of
    scalars; it checks at the start of the run that the environment is a
    :class:`CurriculumEnv`.

    Args:
        score: ``None`` (default), or the score the environment must use: a
            run whose ``CurriculumEnv`` scores otherwise fails at its start.
            The score itself is chosen with ``CurriculumEnv(..., score=...)``.
    """

    score: str | None = eqx.field(static=True)

    def __init__(self, score: EpisodeScore | None = None) -> None:
        self.score = None if score is None else _check_score("CurriculumCallback", score)

    def _curriculum_env(self, env: PyTree) -> CurriculumEnv:
        if not isinstance(env, CurriculumEnv):
            raise TypeError(
                "CurriculumCallback needs the training environment to be a CurriculumEnv "
                f"(a task env + task table + functional curriculum), got {type(env).__name__}"
            )
        if self.score is not None:
            _check_max_mc("CurriculumCallback", self.score, env.curriculum)
            if self.score != env.score:
                raise ValueError(
                    f"CurriculumCallback(score={self.score!r}) but the CurriculumEnv scores episodes with "
                    f"{env.score!r}; choose the score with CurriculumEnv(..., score={self.score!r})"
                )
        return env

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> dict:
        env = self._curriculum_env(ctx.env)
        return env.curriculum.metrics(env.curriculum_state)

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> dict:
        env = self._curriculum_env(ctx.env)
        return env.curriculum.metrics(ctx.step_state.curriculum_state)
