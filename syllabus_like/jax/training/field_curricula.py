"""Environment-field curricula: callbacks that change a field of the environment between iterations.

The environment module is part of the algorithm state, so a curriculum is a
callback whose :meth:`~syllabus_like.jax.training.callback.AbstractCallback.apply_curriculum`
rewrites environment fields with ``eqx.tree_at`` before each iteration's
rollout. Two kinds, both changing a field *shared by all environments*:

* :class:`ScheduledCurriculum` sets a field from the iteration count through a
  schedule (:mod:`~syllabus_like.jax.training.schedules`: :func:`linear_schedule`,
  :func:`step_schedule`, :func:`cosine_schedule`, or any function of the count);
* :class:`AbstractAdaptiveCurriculum` measures the agent: a metric summed over
  each episode, an exponential moving average over *completed* episodes of all
  environments; :class:`LevelCurriculum` moves to the next level of a field
  when that average exceeds a threshold.

To give *each environment its own task*, drawn at its reset from a
functional curriculum, see :mod:`~syllabus_like.jax.training.curriculum_env`.

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
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Key, PyTree

from syllabus_like.jax._checks import finite_values
from syllabus_like.jax.training.callback import (
    AbstractCallback,
    AbstractStatelessCallback,
    EmptyCallbackState,
    IterationContext,
    ResetContext,
    StepContext,
    TrainingContext,
)
from syllabus_like.jax.training.state import AbstractAlgorithmState

__all__ = [
    "AbstractAdaptiveCurriculum",
    "AdaptiveCurriculumState",
    "AdaptiveCurriculumStepState",
    "AdaptiveState",
    "EpisodeMetricAccumulator",
    "LevelCurriculum",
    "LevelState",
    "ScheduledCurriculum",
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


# --------------------------------------------------------------------------- scheduled
class ScheduledCurriculum(AbstractStatelessCallback):
    """Sets ``where(env)`` to ``schedule_fn(iteration_count)`` before every iteration.

    Iteration ``i`` (0-based) runs with the field at ``schedule_fn(i)``, cast
    to the field's dtype (rounded for integer fields) and broadcast to its
    shape. Use the schedules of :mod:`~syllabus_like.jax.training.schedules`, whose numbers are array fields,
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
            raise TypeError(
                f"ScheduledCurriculum: schedule_fn must be a function of the iteration count, got {schedule_fn!r}"
            )
        self.where = where
        self.schedule_fn = schedule_fn

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        _field_of(self.where, ctx.env, "ScheduledCurriculum")
        return EmptyCallbackState()

    def apply_curriculum(self, state: _State, callback_state: EmptyCallbackState) -> tuple[_State, EmptyCallbackState]:
        env = _set_field(self.where, state.env, self.schedule_fn(state.iteration_count))
        return dataclasses.replace(state, env=env), callback_state


# --------------------------------------------------------------------------- adaptive
class AdaptiveCurriculumStepState(eqx.Module):
    """Step-level state of an adaptive curriculum, for one environment (lerax's name).

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


#: The name this state had before it took lerax's.
EpisodeMetricAccumulator = AdaptiveCurriculumStepState


class AdaptiveCurriculumState(eqx.Module):
    """Iteration-level state of an adaptive curriculum (lerax's name and fields).

    Attributes:
        running_metric: exponential moving average of the per-episode metric
            over completed episodes (0 before any).
        level: the current level (:class:`LevelCurriculum`; 0 for a subclass without levels).
        episodes: completed episodes folded into ``running_metric`` (since the
            last restart of the average, e.g. a level change).
        curriculum: any further state of a subclass (``None`` when it needs
            none; :meth:`AbstractAdaptiveCurriculum.init_curriculum`).
    """

    running_metric: Float[Array, ""]
    level: Int[Array, ""]
    episodes: Int[Array, ""]
    curriculum: PyTree = None

    @property
    def metric(self) -> Float[Array, ""]:
        """The running metric (the name this field had before it took lerax's)."""
        return self.running_metric

    def restarted(self, level: Int[Array, ""]) -> AdaptiveCurriculumState:
        """A fresh average (0 over 0 episodes) at ``level``, the subclass state kept."""
        return AdaptiveCurriculumState(
            running_metric=jnp.zeros_like(self.running_metric),
            level=jnp.asarray(level, self.level.dtype),
            episodes=jnp.zeros_like(self.episodes),
            curriculum=self.curriculum,
        )


#: The name this state had before it took lerax's.
AdaptiveState = AdaptiveCurriculumState


class AbstractAdaptiveCurriculum(AbstractCallback[AdaptiveCurriculumState, AdaptiveCurriculumStepState]):
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

    Subclasses implement :meth:`apply_curriculum`, which reads
    ``callback_state.running_metric`` (and ``level``) and changes the algorithm
    state, and may override :meth:`init_curriculum` (checks against the
    environment, and any further state, kept in ``AdaptiveCurriculumState.curriculum``).

    Attributes:
        metric_fn: ``(done, reward, locals) -> scalar``, e.g. ``lambda d, r, l: r``
            (the episode return) or a success indicator.
        smoothing: the average's rate ``a`` in ``(0, 1]``, default 0.05 as in lerax
            (an array: changing it does not recompile).
    """

    metric_fn: Callable[[Bool[Array, ""], Array, dict[str, Any]], ArrayLike] = eqx.field(static=True)
    smoothing: Float[Array, ""]

    def __init__(self, metric_fn: Callable[..., ArrayLike], smoothing: ArrayLike = 0.05) -> None:
        self.metric_fn = _check_metric_fn(type(self).__name__, metric_fn)
        self.smoothing = _check_smoothing(type(self).__name__, smoothing)

    def init_curriculum(self, ctx: ResetContext) -> PyTree:
        """Check the run's start and return any further state (``AdaptiveCurriculumState.curriculum``); default ``None``."""
        return None

    @abc.abstractmethod
    def apply_curriculum(
        self, state: _State, callback_state: AdaptiveCurriculumState
    ) -> tuple[_State, AdaptiveCurriculumState]:
        """Change the algorithm state according to ``callback_state.running_metric``."""

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> AdaptiveCurriculumState:
        return AdaptiveCurriculumState(
            running_metric=jnp.zeros((), jnp.float32),
            level=jnp.zeros((), jnp.int32),
            episodes=jnp.zeros((), jnp.int32),
            curriculum=self.init_curriculum(ctx),
        )

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> AdaptiveCurriculumStepState:
        return AdaptiveCurriculumStepState(
            running=jnp.zeros((), jnp.float32),
            completed_sum=jnp.zeros((), jnp.float32),
            completed_count=jnp.zeros((), jnp.int32),
            iteration=jnp.asarray(-1, jnp.int32),
        )

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> AdaptiveCurriculumStepState:
        accumulator: AdaptiveCurriculumStepState = ctx.state
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
        return AdaptiveCurriculumStepState(
            running=jnp.where(done, 0.0, running),
            completed_sum=completed_sum + jnp.where(done, running, 0.0),
            completed_count=completed_count + done.astype(jnp.int32),
            iteration=jnp.asarray(ctx.iteration_count, jnp.int32),
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> AdaptiveCurriculumState:
        state: AdaptiveCurriculumState = ctx.state
        accumulators: AdaptiveCurriculumStepState = ctx.step_state.callback_state
        this_iteration = accumulators.iteration == ctx.iteration_count
        count = jnp.sum(jnp.where(this_iteration, accumulators.completed_count, 0))
        total = jnp.sum(jnp.where(this_iteration, accumulators.completed_sum, 0.0))
        mean = total / jnp.maximum(count, 1)
        keep = jnp.power(1.0 - self.smoothing, count.astype(jnp.float32))
        return dataclasses.replace(
            state,
            running_metric=keep * state.running_metric + (1.0 - keep) * mean,
            episodes=state.episodes + count,
        )

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> AdaptiveCurriculumState:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> AdaptiveCurriculumState:
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
    """The index of a level; kept so that old imports work.

    :class:`LevelCurriculum` keeps its level in :attr:`AdaptiveCurriculumState.level`
    (lerax's layout) since the adaptive state took lerax's names.
    """

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
        levels = finite_values("LevelCurriculum", "levels", levels)
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

    def init_curriculum(self, ctx: ResetContext) -> None:
        field = _field_of(self.where, ctx.env, "LevelCurriculum")
        if self.levels.shape[1:] != field.shape and self.levels.shape[1:] != ():
            raise ValueError(
                f"LevelCurriculum: each level must be a scalar or match the field's shape {field.shape}; "
                f"levels has shape {self.levels.shape}"
            )
        return None

    def apply_curriculum(
        self, state: _State, callback_state: AdaptiveCurriculumState
    ) -> tuple[_State, AdaptiveCurriculumState]:
        level = callback_state.level
        advance = (callback_state.running_metric > self.threshold) & (level < self.num_levels - 1)
        new_level = level + advance.astype(level.dtype)
        restarted = callback_state.restarted(new_level)
        callback_state = jax.tree_util.tree_map(
            lambda fresh, old: jnp.where(advance, fresh, old), restarted, callback_state
        )
        env = _set_field(self.where, state.env, self.levels[new_level])
        return dataclasses.replace(state, env=env), callback_state
