"""Curriculum callbacks: change the environment between iterations of a jitted run.

The environment module is part of the algorithm state, so a curriculum is a
callback whose :meth:`~syllabus_like.jax.callback.AbstractCallback.apply_curriculum`
rewrites environment fields with ``eqx.tree_at`` before each iteration's
rollout. Two kinds:

* :class:`ScheduledCurriculum` sets a field from the iteration count through a
  schedule (:func:`linear_schedule`, :func:`step_schedule`,
  :func:`cosine_schedule`, or any function of the count);
* :class:`AbstractAdaptiveCurriculum` measures the agent: a metric summed over
  each episode, an exponential moving average over *completed* episodes of all
  environments; :class:`LevelCurriculum` moves to the next level of a field
  when that average exceeds a threshold;
* :class:`CurriculumCallback` drives a functional curriculum of
  :mod:`syllabus_like.jax` (``DomainRandomization``, ``SequentialCurriculum``,
  ``PrioritizedLevelReplay``, ...) over a task table: wrap the environment in
  a :class:`CurriculumEnv`, whose every reset draws a task for that
  environment, and the callback updates the curriculum from the finished
  episodes after each iteration.

The first two change a field *shared by all environments*; the third gives
*each environment its own task*, drawn at its reset.

**How an environment declares what a curriculum may change.** A field a
curriculum sets must be a JAX array (e.g. ``level: Int[Array, ""]``,
``gravity: Float[Array, ""]``): Python numbers are compile-time constants of
the jitted program and cannot change inside it (you get a clear error when
the curriculum starts). Quantities *derived* from such fields
(CartPole's ``polemass_length = masspole * length``, a gridworld's step limit
looked up from its level) must be ``@property`` s computed from the fields,
not fields of their own, so that setting one field keeps every derived
value consistent. A changed field takes effect where the environment reads
it: a start-position level at the next reset of each environment, a
physical constant at the next step.

Schedules, thresholds and smoothing rates are array fields, so changing them
reuses the compiled training program.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Key, PyTree

from syllabus_like.jax.algorithm import AbstractAlgorithmState
from syllabus_like.jax.base import AbstractCurriculum
from syllabus_like.jax.callback import (
    AbstractCallback,
    AbstractIterationCallback,
    AbstractStatelessCallback,
    IterationContext,
    ResetContext,
    StepContext,
    TrainingContext,
)
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.jax.episodes import EpisodeBatch
from syllabus_like.jax.level_scores import EpisodeAccumulator, episode_means, max_mc_scores

__all__ = [
    "AbstractAdaptiveCurriculum",
    "AbstractSchedule",
    "AdaptiveState",
    "CosineSchedule",
    "CurriculumCallback",
    "CurriculumCallbackState",
    "CurriculumEnv",
    "CurriculumEnvState",
    "EpisodeMetricAccumulator",
    "LevelCurriculum",
    "LevelState",
    "LinearSchedule",
    "ScheduledCurriculum",
    "StepSchedule",
    "cosine_schedule",
    "linear_schedule",
    "step_schedule",
]

_State = TypeVar("_State", bound=AbstractAlgorithmState)


# --------------------------------------------------------------------------- field access
def _field_of(where: Callable[[PyTree], Any], env: PyTree, owner: str) -> Array:
    """``where(env)``, checked to be a JAX array a jitted run can change."""
    try:
        field = where(env)
    except Exception as error:
        raise ValueError(f"{owner}: where(env) failed on {type(env).__name__}: {error!r}") from error
    if not isinstance(field, jax.Array):
        raise TypeError(
            f"{owner}: the environment field selected by `where` must be a JAX array so that it can "
            f"change inside a jitted run; {type(env).__name__} has {field!r} ({type(field).__name__}). "
            "Declare it as an array field (e.g. `level: Int[Array, ''] = eqx.field(converter=jnp.asarray)`)."
        )
    return field


def _set_field(where: Callable[[PyTree], Any], env: PyTree, value: ArrayLike) -> PyTree:
    """``env`` with ``where(env)`` replaced by ``value`` cast to the field's dtype and shape."""
    field = where(env)
    value = jnp.asarray(value)
    if jnp.issubdtype(field.dtype, jnp.integer) and not jnp.issubdtype(value.dtype, jnp.integer):
        value = jnp.round(value)
    value = jnp.broadcast_to(value.astype(field.dtype), field.shape)
    return eqx.tree_at(where, env, value)


# --------------------------------------------------------------------------- schedules
class AbstractSchedule(eqx.Module):
    """A function of the iteration count whose numbers are array fields (changing them never recompiles)."""

    @abc.abstractmethod
    def __call__(self, iteration: Int[Array, ""]) -> Array:
        """The value at ``iteration`` (0-based)."""


def _positive_number(owner: str, name: str, value: Any) -> Float[Array, ""]:
    array = jnp.asarray(value, dtype=jnp.float32)
    if array.shape != ():
        raise ValueError(f"{owner}: {name} must be a scalar, got shape {array.shape}")
    if not float(array) > 0 or not math.isfinite(float(array)):
        raise ValueError(f"{owner}: {name} must be a positive finite number, got {value!r}")
    return array


def _finite_values(owner: str, name: str, value: Any) -> Array:
    array = jnp.asarray(value)
    if not jnp.issubdtype(array.dtype, jnp.number) or jnp.issubdtype(array.dtype, jnp.complexfloating):
        raise TypeError(f"{owner}: {name} must be real numbers, got {value!r}")
    if not bool(jnp.all(jnp.isfinite(array))):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")
    return array


class LinearSchedule(AbstractSchedule):
    """``start + (end - start) * min(iteration / total, 1)``: linear, then constant at ``end``."""

    start: Array
    end: Array
    total: Float[Array, ""]

    def __init__(self, start: ArrayLike, end: ArrayLike, total: ArrayLike) -> None:
        self.start = _finite_values("linear_schedule", "start", start)
        self.end = _finite_values("linear_schedule", "end", end)
        self.total = _positive_number("linear_schedule", "total", total)

    def __call__(self, iteration: Int[Array, ""]) -> Array:
        fraction = jnp.clip(jnp.asarray(iteration, jnp.float32) / self.total, 0.0, 1.0)
        return self.start + (self.end - self.start) * fraction


class CosineSchedule(AbstractSchedule):
    """Half a cosine from ``start`` to ``end`` over ``total`` iterations, then ``end``.

    ``end + (start - end) * (1 + cos(pi * min(iteration / total, 1))) / 2``
    (the shape of Loshchilov & Hutter's SGDR, 2017, without restarts).
    """

    start: Array
    end: Array
    total: Float[Array, ""]

    def __init__(self, start: ArrayLike, end: ArrayLike, total: ArrayLike) -> None:
        self.start = _finite_values("cosine_schedule", "start", start)
        self.end = _finite_values("cosine_schedule", "end", end)
        self.total = _positive_number("cosine_schedule", "total", total)

    def __call__(self, iteration: Int[Array, ""]) -> Array:
        fraction = jnp.clip(jnp.asarray(iteration, jnp.float32) / self.total, 0.0, 1.0)
        return self.end + (self.start - self.end) * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction))


class StepSchedule(AbstractSchedule):
    """Piecewise constant: ``values[k]`` for ``boundaries[k-1] <= iteration < boundaries[k]``.

    ``values[0]`` before the first boundary, ``values[-1]`` from the last one on.
    """

    values: Array
    boundaries: Int[Array, " k"]

    def __init__(self, values: ArrayLike, boundaries: ArrayLike) -> None:
        values = _finite_values("step_schedule", "values", values)
        boundary_array = np.asarray(boundaries, dtype=float)
        if boundary_array.ndim != 1:
            raise ValueError(f"step_schedule: boundaries must be a 1-D sequence of iteration counts, got {boundaries!r}")
        boundaries_list = boundary_array.tolist()
        if values.ndim == 0:
            raise ValueError(f"step_schedule: values must be a sequence (one value per segment), got {values!r}")
        if len(values) != len(boundaries_list) + 1:
            raise ValueError(
                "step_schedule: need len(values) == len(boundaries) + 1 (one value before the first "
                f"boundary and one after each), got {len(values)} values and {len(boundaries_list)} boundaries"
            )
        if any(not float(b).is_integer() or b < 0 for b in boundaries_list):
            raise ValueError(f"step_schedule: boundaries must be non-negative integers, got {list(boundaries)}")
        boundaries_list = [int(b) for b in boundaries_list]
        if any(b >= c for b, c in zip(boundaries_list, boundaries_list[1:])):
            raise ValueError(f"step_schedule: boundaries must be strictly increasing, got {boundaries_list}")
        self.values = values
        self.boundaries = jnp.asarray(boundaries_list, dtype=jnp.int32)

    def __call__(self, iteration: Int[Array, ""]) -> Array:
        segment = jnp.searchsorted(self.boundaries, jnp.asarray(iteration, jnp.int32), side="right")
        return self.values[segment]


def linear_schedule(start: ArrayLike, end: ArrayLike, total: ArrayLike) -> LinearSchedule:
    """From ``start`` at iteration 0 to ``end`` at iteration ``total``, clamped to ``end`` after."""
    return LinearSchedule(start, end, total)


def step_schedule(values: ArrayLike, boundaries: ArrayLike) -> StepSchedule:
    """``values[0]`` until ``boundaries[0]``, ``values[1]`` until ``boundaries[1]``, ..., then ``values[-1]``.

    Raises ValueError unless ``len(values) == len(boundaries) + 1`` and the
    boundaries are strictly increasing non-negative integers.
    """
    return StepSchedule(values, boundaries)


def cosine_schedule(start: ArrayLike, end: ArrayLike, total: ArrayLike) -> CosineSchedule:
    """Cosine annealing from ``start`` to ``end`` over ``total`` iterations, clamped to ``end`` after."""
    return CosineSchedule(start, end, total)


# --------------------------------------------------------------------------- scheduled
class ScheduledCurriculum(AbstractStatelessCallback):
    """Sets ``where(env)`` to ``schedule_fn(iteration_count)`` before every iteration.

    Iteration ``i`` (0-based) runs with the field at ``schedule_fn(i)``, cast
    to the field's dtype (rounded for integer fields) and broadcast to its
    shape. Use the schedules of this module, whose numbers are array fields,
    or any jittable function of the count (a plain function is part of the
    compiled program: a new one recompiles).

    Args:
        where: selects the field, e.g. ``lambda env: env.gravity``; it must be
            a JAX array (see the module docstring). The function is part of
            the compiled program: pass the same function object to reuse it.
        schedule_fn: iteration count -> value.
    """

    where: Callable[[PyTree], Any] = eqx.field(static=True)
    schedule_fn: Callable[[Int[Array, ""]], ArrayLike]

    def __init__(self, where: Callable[[PyTree], Any], schedule_fn: Callable[[Int[Array, ""]], ArrayLike]) -> None:
        if not callable(where):
            raise TypeError(f"ScheduledCurriculum: where must be a function env -> field, got {where!r}")
        if not callable(schedule_fn):
            raise TypeError(f"ScheduledCurriculum: schedule_fn must be a function of the iteration count, got {schedule_fn!r}")
        self.where = where
        self.schedule_fn = schedule_fn

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> None:
        _field_of(self.where, ctx.env, "ScheduledCurriculum")
        return None

    def apply_curriculum(self, state: _State, callback_state: None) -> tuple[_State, None]:
        env = _set_field(self.where, state.env, self.schedule_fn(state.iteration_count))
        return dataclasses.replace(state, env=env), callback_state


# --------------------------------------------------------------------------- adaptive
class EpisodeMetricAccumulator(eqx.Module):
    """Step-level state of an adaptive curriculum, for one environment.

    Attributes:
        running: the metric summed over the running (unfinished) episode.
        completed_sum: the metric summed over the episodes completed during ``iteration``.
        completed_count: how many episodes completed during ``iteration``.
        iteration: the iteration ``completed_*`` belong to.
    """

    running: Float[Array, ""]
    completed_sum: Float[Array, ""]
    completed_count: Int[Array, ""]
    iteration: Int[Array, ""]


class AdaptiveState(eqx.Module):
    """Iteration-level state of an adaptive curriculum.

    Attributes:
        metric: exponential moving average of the per-episode metric over
            completed episodes (0 before any).
        episodes: completed episodes folded into ``metric`` (since the last
            restart of the average, e.g. a level change).
        curriculum: the subclass's own state (:class:`LevelCurriculum`: a :class:`LevelState`).
    """

    metric: Float[Array, ""]
    episodes: Int[Array, ""]
    curriculum: PyTree

    def restarted(self, curriculum: PyTree) -> "AdaptiveState":
        """A fresh average (0 over 0 episodes) with the given subclass state."""
        return AdaptiveState(metric=jnp.zeros_like(self.metric), episodes=jnp.zeros_like(self.episodes), curriculum=curriculum)


class AbstractAdaptiveCurriculum(AbstractCallback):
    """A curriculum driven by a running average of an episode metric.

    Every environment step adds ``metric_fn(done, reward, locals)`` (one
    environment, a scalar) to the running episode's sum; when the episode
    ends, its sum counts as one completed episode. After each iteration the
    completed episodes of all environments update the average
    ``m <- (1 - a) m + a x`` once per episode, with ``a = smoothing``. The
    episodes of one iteration are folded in together as if each had the
    mean value ``x_bar`` of the ``n`` of them (their order across
    environments is not defined)::

        m <- (1 - a)^n m + (1 - (1 - a)^n) x_bar

    Episodes still running at the iteration boundary are not counted until
    they complete. The average starts at 0, so it rises above a threshold
    only after enough good episodes (about ``log(1 - threshold) / log(1 - a)``
    of them for a success metric in ``[0, 1]``).

    Subclasses implement :meth:`init_curriculum` (their own state, kept in
    ``AdaptiveState.curriculum``) and :meth:`apply_curriculum`, which reads
    ``callback_state.metric`` and changes the algorithm state.

    Attributes:
        metric_fn: ``(done, reward, locals) -> scalar``, e.g. ``lambda d, r, l: r``
            (the episode return) or a success indicator.
        smoothing: the average's rate ``a`` in ``(0, 1]`` (an array: changing it does not recompile).
    """

    metric_fn: Callable[[Bool[Array, ""], Array, dict[str, Any]], ArrayLike] = eqx.field(static=True)
    smoothing: Float[Array, ""]

    def __init__(self, metric_fn: Callable[..., ArrayLike], smoothing: ArrayLike) -> None:
        self.metric_fn = _check_metric_fn(type(self).__name__, metric_fn)
        self.smoothing = _check_smoothing(type(self).__name__, smoothing)

    @abc.abstractmethod
    def init_curriculum(self, ctx: ResetContext) -> PyTree:
        """The subclass's initial state (stored in ``AdaptiveState.curriculum``)."""

    @abc.abstractmethod
    def apply_curriculum(self, state: _State, callback_state: AdaptiveState) -> tuple[_State, AdaptiveState]:
        """Change the algorithm state according to ``callback_state.metric``."""

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> AdaptiveState:
        return AdaptiveState(
            metric=jnp.zeros((), jnp.float32),
            episodes=jnp.zeros((), jnp.int32),
            curriculum=self.init_curriculum(ctx),
        )

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EpisodeMetricAccumulator:
        return EpisodeMetricAccumulator(
            running=jnp.zeros((), jnp.float32),
            completed_sum=jnp.zeros((), jnp.float32),
            completed_count=jnp.zeros((), jnp.int32),
            iteration=jnp.asarray(-1, jnp.int32),
        )

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EpisodeMetricAccumulator:
        accumulator: EpisodeMetricAccumulator = ctx.state
        same_iteration = accumulator.iteration == ctx.iteration_count
        completed_sum = jnp.where(same_iteration, accumulator.completed_sum, 0.0)
        completed_count = jnp.where(same_iteration, accumulator.completed_count, 0)
        value = jnp.asarray(self.metric_fn(ctx.done, ctx.reward, ctx.locals), jnp.float32)
        if value.shape != ():
            raise ValueError(
                f"{type(self).__name__}: metric_fn must return a scalar per environment step, got shape {value.shape}"
            )
        running = accumulator.running + value
        done = jnp.asarray(ctx.done, bool)
        return EpisodeMetricAccumulator(
            running=jnp.where(done, 0.0, running),
            completed_sum=completed_sum + jnp.where(done, running, 0.0),
            completed_count=completed_count + done.astype(jnp.int32),
            iteration=jnp.asarray(ctx.iteration_count, jnp.int32),
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> AdaptiveState:
        state: AdaptiveState = ctx.state
        accumulators: EpisodeMetricAccumulator = ctx.step_state.callback_state
        this_iteration = accumulators.iteration == ctx.iteration_count
        count = jnp.sum(jnp.where(this_iteration, accumulators.completed_count, 0))
        total = jnp.sum(jnp.where(this_iteration, accumulators.completed_sum, 0.0))
        mean = total / jnp.maximum(count, 1)
        keep = jnp.power(1.0 - self.smoothing, count.astype(jnp.float32))
        return dataclasses.replace(
            state,
            metric=keep * state.metric + (1.0 - keep) * mean,
            episodes=state.episodes + count,
        )

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> AdaptiveState:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> AdaptiveState:
        return ctx.state


def _check_metric_fn(owner: str, metric_fn: Any) -> Callable[..., ArrayLike]:
    if not callable(metric_fn):
        raise TypeError(f"{owner}: metric_fn must be a function (done, reward, locals) -> scalar, got {metric_fn!r}")
    return metric_fn


def _check_smoothing(owner: str, smoothing: ArrayLike) -> Float[Array, ""]:
    array = jnp.asarray(smoothing, dtype=jnp.float32)
    if array.shape != ():
        raise ValueError(f"{owner}: smoothing must be a scalar, got shape {array.shape}")
    if not isinstance(array, jax.core.Tracer) and not 0.0 < float(array) <= 1.0:
        raise ValueError(f"{owner}: smoothing must be in (0, 1], got {smoothing!r}")
    return array


class LevelState(eqx.Module):
    """Where a :class:`LevelCurriculum` is: the index of the current level."""

    level: Int[Array, ""]


class LevelCurriculum(AbstractAdaptiveCurriculum):
    """Walks an environment field through ``levels``, one step up whenever the agent is good enough.

    The field starts at ``levels[0]``. Before each iteration, if the running
    metric (see :class:`AbstractAdaptiveCurriculum`) exceeds ``threshold``
    and a harder level remains, the field moves to the next level and the
    average restarts from 0, so every level must be mastered on its own
    episodes. Episodes that started before a change and end after it count
    for the new level.

    Args:
        where: selects the field, e.g. ``lambda env: env.level``; a JAX array.
        levels: the values of the field, easiest first (leading axis: levels).
        metric_fn: ``(done, reward, locals) -> scalar`` summed over an episode,
            e.g. ``lambda done, reward, locals: reward`` for a 0/1 success reward.
            ``where`` and ``metric_fn`` are part of the compiled program (static):
            reuse the same function objects to reuse it.
        threshold: advance when the average exceeds this (an array field: changing it does not recompile).
        smoothing: the average's rate in ``(0, 1]``.
    """

    where: Callable[[PyTree], Any] = eqx.field(static=True)
    levels: Array
    threshold: Float[Array, ""]

    def __init__(
        self,
        where: Callable[[PyTree], Any],
        levels: ArrayLike | Sequence[ArrayLike],
        metric_fn: Callable[..., ArrayLike],
        threshold: ArrayLike,
        smoothing: ArrayLike = 0.05,
    ) -> None:
        super().__init__(metric_fn, smoothing)
        if not callable(where):
            raise TypeError(f"LevelCurriculum: where must be a function env -> field, got {where!r}")
        levels = _finite_values("LevelCurriculum", "levels", levels)
        if levels.ndim == 0 or len(levels) == 0:
            raise ValueError(f"LevelCurriculum: levels must be a non-empty sequence of field values, got {levels!r}")
        threshold = jnp.asarray(threshold, dtype=jnp.float32)
        if threshold.shape != ():
            raise ValueError(f"LevelCurriculum: threshold must be a scalar, got shape {threshold.shape}")
        self.where = where
        self.levels = levels
        self.threshold = threshold

    @property
    def num_levels(self) -> int:
        return int(self.levels.shape[0])

    def init_curriculum(self, ctx: ResetContext) -> LevelState:
        field = _field_of(self.where, ctx.env, "LevelCurriculum")
        if self.levels.shape[1:] != field.shape and self.levels.shape[1:] != ():
            raise ValueError(
                f"LevelCurriculum: each level must be a scalar or match the field's shape {field.shape}; "
                f"levels has shape {self.levels.shape}"
            )
        return LevelState(level=jnp.zeros((), jnp.int32))

    def apply_curriculum(self, state: _State, callback_state: AdaptiveState) -> tuple[_State, AdaptiveState]:
        level = callback_state.curriculum.level
        advance = (callback_state.metric > self.threshold) & (level < self.num_levels - 1)
        new_level = level + advance.astype(level.dtype)
        restarted = callback_state.restarted(LevelState(level=new_level))
        callback_state = jax.tree_util.tree_map(
            lambda fresh, old: jnp.where(advance, fresh, old), restarted, callback_state
        )
        env = _set_field(self.where, state.env, self.levels[new_level])
        return dataclasses.replace(state, env=env), callback_state


# --------------------------------------------------------------------------- functional curricula
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
