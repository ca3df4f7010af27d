"""Callbacks: pure hooks that observe, and may steer, a jitted training run.

A training run (:meth:`AbstractAlgorithm.learn <syllabus_like.jax.training.algorithm.AbstractAlgorithm.learn>`)
is one ``jax.jit``-compiled program, so a callback cannot keep Python
attributes or print: every hook is a pure function of a *context* and returns
the callback's next *state*, an explicit pytree that the algorithm carries
for it. A callback owns two states:

* the **iteration-level** state (``AbstractAlgorithmState.callback_state``),
  created by :meth:`AbstractCallback.reset` and advanced by
  :meth:`~AbstractCallback.on_iteration`, :meth:`~AbstractCallback.on_training_start`
  and :meth:`~AbstractCallback.on_training_end`;
* the **step-level** state, one per environment
  (``AbstractStepState.callback_state``, leading axis ``num_envs``), created
  by :meth:`~AbstractCallback.step_reset` and advanced by
  :meth:`~AbstractCallback.on_step`. The algorithm ``vmap`` s these two hooks
  over the environments, so they are written for a *single* environment.

Order of the hooks in a run::

    reset, step_reset (x num_envs)               when the algorithm state is built
    on_training_start                            once per learn / resume call
    repeat:
        apply_curriculum                         may change the algorithm state (env fields, ...)
        on_step (x num_envs) every env step      during the rollout
        on_iteration                             after the update
        continue_training                        False stops the run after this iteration
    on_training_end

Every hook receives its own ``key``; none may touch global state. Numbers a
callback reads (thresholds, rates) should be array fields, so that changing
them reuses the compiled program; integers that shape arrays are
``eqx.field(static=True)``.

Most callbacks need only some hooks: derive from
:class:`AbstractStatelessCallback`, :class:`AbstractStepCallback`,
:class:`AbstractIterationCallback` or :class:`AbstractTrainingCallback`, which
fill in the hooks they do not use. :class:`CallbackList` runs several
callbacks as one, each with its own slice of the state.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, Key, PyTree

from syllabus_like.jax.training.state import AbstractAlgorithmState, AbstractStepState

__all__ = [
    "AbstractCallback",
    "AbstractCallbackState",
    "AbstractCallbackStepState",
    "AbstractIterationCallback",
    "AbstractStatelessCallback",
    "AbstractStepCallback",
    "AbstractTrainingCallback",
    "CallbackList",
    "EmptyCallbackState",
    "EmptyCallbackStepState",
    "IterationContext",
    "ResetContext",
    "StepContext",
    "TrainingContext",
    "as_callback",
]

_State = TypeVar("_State", bound=AbstractAlgorithmState)


# --------------------------------------------------------------------------- callback states
class AbstractCallbackState(eqx.Module):
    """Base of a callback's iteration-level state (one per run; lerax's name).

    Any pytree works as a callback state; deriving from this class only says
    what the state is for.
    """


class AbstractCallbackStepState(eqx.Module):
    """Base of a callback's step-level state (one per environment, vmapped; lerax's name)."""


class EmptyCallbackState(AbstractCallbackState):
    """The iteration-level state of a callback that keeps none (a pytree without leaves)."""


class EmptyCallbackStepState(AbstractCallbackStepState):
    """The step-level state of a callback that keeps none (a pytree without leaves)."""


#: The type of a callback's iteration-level state (any pytree).
StateT = TypeVar("StateT")
#: The type of a callback's step-level state (any pytree, for one environment).
StepStateT = TypeVar("StepStateT")


# --------------------------------------------------------------------------- contexts
class ResetContext(eqx.Module):
    """What :meth:`AbstractCallback.reset` and :meth:`~AbstractCallback.step_reset` see.

    Attributes:
        env: the environment the run starts with.
        policy: the policy the run starts with.
        locals: algorithm-specific extras (PPO: ``num_envs``, ``num_steps``).
    """

    env: PyTree
    policy: PyTree
    locals: dict[str, Any]


class StepContext(eqx.Module):
    """What :meth:`AbstractCallback.on_step` sees: one environment, one step.

    Attributes:
        state: this callback's step-level state for this environment.
        env: the environment module (shared by all environments of the batch).
        policy: the policy that chose the action.
        done: whether this step ended an episode (terminated or truncated);
            the next step belongs to a new episode.
        reward: the reward of this step, as the environment returned it.
        locals: algorithm-specific extras. PPO gives ``observation``,
            ``action``, ``next_observation`` (before any automatic reset),
            ``terminated``, ``truncated``, ``info``, ``value``, ``log_prob``.
        iteration_count: 0-based index of the iteration this step belongs to
            (lets a step-level state tell one iteration's steps from the next).
    """

    state: PyTree
    env: PyTree
    policy: PyTree
    done: Bool[Array, ""]
    reward: Array
    locals: dict[str, Any]
    iteration_count: Int[Array, ""]


class IterationContext(eqx.Module):
    """What :meth:`AbstractCallback.on_iteration` and :meth:`~AbstractCallback.continue_training` see.

    Attributes:
        state: this callback's iteration-level state.
        step_state: the step state after this iteration's rollout; its
            ``callback_state`` is this callback's step-level state (leading
            axis ``num_envs``).
        env: the environment module used for this iteration.
        policy: the policy *after* this iteration's update.
        iteration_count: 0-based index of the iteration that just finished.
        opt_state: the optimizer state after the update.
        training_log: scalar statistics of the iteration (PPO: losses,
            ``episode_return`` / ``episode_length`` means and ``episodes``
            finished during the rollout, ``approx_kl``, ``clip_fraction``).
        locals: algorithm-specific extras. PPO: ``num_envs``, ``num_steps``
            (and ``rollout``, the same record as :attr:`rollout`).
        rollout: the algorithm's typed record of the iteration's rollout, or
            ``None``. PPO: a :class:`~syllabus_like.jax.training.ppo.PPORollout`
            of ``[T, B]`` arrays (rewards, terminations, ``done``, infos,
            episode returns and lengths, values, GAE advantages, the task
            each environment played under a ``CurriculumEnv``).
    """

    state: PyTree
    step_state: AbstractStepState
    env: PyTree
    policy: PyTree
    iteration_count: Int[Array, ""]
    opt_state: PyTree
    training_log: dict[str, Array]
    locals: dict[str, Any]
    rollout: PyTree = None


class TrainingContext(eqx.Module):
    """What :meth:`AbstractCallback.on_training_start` / ``on_training_end`` see.

    Attributes:
        state: this callback's iteration-level state.
        step_state: the current step state (its ``callback_state`` is this callback's).
        env: the current environment module.
        policy: the current policy.
        total_timesteps: the environment-step budget of this learn / resume call.
        iteration_count: iterations done so far (at the start of a resumed
            run this is where the run resumes).
        locals: algorithm-specific extras (``num_iterations``: the iteration
            budget of this call; PPO also ``num_envs``, ``num_steps``).
    """

    state: PyTree
    step_state: AbstractStepState
    env: PyTree
    policy: PyTree
    total_timesteps: Int[Array, ""]
    iteration_count: Int[Array, ""]
    locals: dict[str, Any]


# --------------------------------------------------------------------------- base class
class AbstractCallback(eqx.Module, Generic[StateT, StepStateT]):
    """A set of hooks into a jitted training run; see the module docstring for the order.

    Generic in its two state types, as lerax's: ``AbstractCallback[StateT, StepStateT]``
    with ``StateT`` the iteration-level state and ``StepStateT`` the
    step-level state of one environment.

    Every hook is traced inside ``jax.jit`` (the step-level ones inside
    ``jax.vmap`` over environments as well) and must be a pure function of
    its arguments. Subclasses implement all six state hooks; the
    ``Abstract*Callback`` variants below provide the ones a callback does
    not use.
    """

    @abc.abstractmethod
    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> StateT:
        """Return the initial iteration-level state."""

    @abc.abstractmethod
    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> StepStateT:
        """Return the initial step-level state of *one* environment (vmapped over environments)."""

    @abc.abstractmethod
    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> StepStateT:
        """Return the step-level state after one environment step (vmapped over environments)."""

    @abc.abstractmethod
    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> StateT:
        """Return the iteration-level state after an iteration's update."""

    @abc.abstractmethod
    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateT:
        """Return the iteration-level state at the start of a learn / resume call."""

    @abc.abstractmethod
    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateT:
        """Return the iteration-level state at the end of a learn / resume call."""

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        """Whether to run another iteration (checked after :meth:`on_iteration`). Default: always."""
        return jnp.asarray(True)

    def apply_curriculum(self, state: _State, callback_state: StateT) -> tuple[_State, StateT]:
        """Change the algorithm state before an iteration's rollout; default: no change.

        ``state`` is the algorithm state as this callback sees it: its
        ``callback_state`` and ``step_state.callback_state`` are this
        callback's own (also inside a :class:`CallbackList`), and
        ``callback_state`` is its iteration-level state. Return the new
        algorithm state (e.g. with an environment field changed through
        ``eqx.tree_at``) and the new iteration-level state. Curricula
        (:mod:`syllabus_like.jax.training.field_curricula`) override this.
        """
        return state, callback_state


# --------------------------------------------------------------------------- variants
class AbstractStatelessCallback(AbstractCallback[EmptyCallbackState, EmptyCallbackStepState]):
    """A callback without state (:class:`EmptyCallbackState` / :class:`EmptyCallbackStepState`); override the hooks you need.

    Typical use: a :meth:`continue_training` rule that reads the context
    only, or an :meth:`apply_curriculum` that is a function of the algorithm state.
    """

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()


class AbstractStepCallback(AbstractCallback[EmptyCallbackState, StepStateT]):
    """A callback with per-environment state only: implement :meth:`step_reset` and :meth:`on_step`.

    The iteration-level hooks keep the iteration-level state
    (:class:`EmptyCallbackState`) unchanged; read the step-level states from
    ``ctx.step_state.callback_state`` in :meth:`continue_training` if needed.
    """

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state


class AbstractIterationCallback(AbstractCallback[StateT, EmptyCallbackStepState]):
    """A callback with iteration-level state only: implement :meth:`reset` and :meth:`on_iteration`."""

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return ctx.state

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateT:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateT:
        return ctx.state


class AbstractTrainingCallback(AbstractCallback[StateT, EmptyCallbackStepState]):
    """A callback for the start / end of training: implement :meth:`reset`,
    :meth:`on_training_start` and :meth:`on_training_end`."""

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return ctx.state

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> StateT:
        return ctx.state


# --------------------------------------------------------------------------- composition
def _with_step_callback_state(step_state: AbstractStepState, callback_state: PyTree) -> AbstractStepState:
    """``step_state`` with its callback state replaced, ``None`` included (a callback's own state may be ``None``).

    ``with_callback_state(None)`` keeps the current state (lerax's meaning),
    so narrowing to one callback's slice cannot go through it.
    """
    return dataclasses.replace(step_state, callback_state=callback_state)


def _split(key: Key[Array, ""], n: int) -> list[Key[Array, ""]]:
    return list(jax.random.split(key, n)) if n else []


class CallbackList(AbstractCallback[tuple[Any, ...], tuple[Any, ...]]):
    """Several callbacks run as one; their states are tuples, one entry per callback.

    Each callback sees contexts holding only its own entry (both the
    iteration-level and the step-level state), gets its own key, and its
    hooks run in list order. :meth:`continue_training` is the logical AND of
    all the callbacks' answers (every callback is asked, so each sees the
    iteration). :meth:`apply_curriculum` threads the algorithm state through
    the callbacks in order, so a later curriculum sees the environment a
    former one produced.
    """

    callbacks: tuple[AbstractCallback, ...]

    def __init__(self, callbacks: Sequence[AbstractCallback]) -> None:
        callbacks = tuple(callbacks)
        for index, callback in enumerate(callbacks):
            if not isinstance(callback, AbstractCallback):
                raise TypeError(
                    f"CallbackList entries must be AbstractCallback instances; entry {index} is "
                    f"{callback!r} ({type(callback).__name__})"
                )
        self.callbacks = callbacks

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> tuple[PyTree, ...]:
        keys = _split(key, len(self.callbacks))
        return tuple(cb.reset(ctx, key=k) for cb, k in zip(self.callbacks, keys, strict=False))

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> tuple[PyTree, ...]:
        keys = _split(key, len(self.callbacks))
        return tuple(cb.step_reset(ctx, key=k) for cb, k in zip(self.callbacks, keys, strict=False))

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> tuple[PyTree, ...]:
        keys = _split(key, len(self.callbacks))
        return tuple(
            cb.on_step(dataclasses.replace(ctx, state=ctx.state[i]), key=k)
            for i, (cb, k) in enumerate(zip(self.callbacks, keys, strict=False))
        )

    def _iteration_view(self, ctx: Any, index: int) -> Any:
        """``ctx`` with ``state`` and ``step_state.callback_state`` narrowed to callback ``index``."""
        step_state = _with_step_callback_state(ctx.step_state, ctx.step_state.callback_state[index])
        return dataclasses.replace(ctx, state=ctx.state[index], step_state=step_state)

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> tuple[PyTree, ...]:
        keys = _split(key, len(self.callbacks))
        return tuple(
            cb.on_iteration(self._iteration_view(ctx, i), key=k)
            for i, (cb, k) in enumerate(zip(self.callbacks, keys, strict=False))
        )

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> tuple[PyTree, ...]:
        keys = _split(key, len(self.callbacks))
        return tuple(
            cb.on_training_start(self._iteration_view(ctx, i), key=k)
            for i, (cb, k) in enumerate(zip(self.callbacks, keys, strict=False))
        )

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> tuple[PyTree, ...]:
        keys = _split(key, len(self.callbacks))
        return tuple(
            cb.on_training_end(self._iteration_view(ctx, i), key=k)
            for i, (cb, k) in enumerate(zip(self.callbacks, keys, strict=False))
        )

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        keys = _split(key, len(self.callbacks))
        keep_going = jnp.asarray(True)
        for i, (cb, k) in enumerate(zip(self.callbacks, keys, strict=False)):
            keep_going = keep_going & cb.continue_training(self._iteration_view(ctx, i), key=k)
        return keep_going

    def apply_curriculum(self, state: _State, callback_state: PyTree) -> tuple[_State, PyTree]:
        states = list(callback_state)
        step_states = list(state.step_state.callback_state)
        for i, callback in enumerate(self.callbacks):
            view = state.with_callback_states(states[i])
            view = dataclasses.replace(view, step_state=_with_step_callback_state(view.step_state, step_states[i]))
            state, states[i] = callback.apply_curriculum(view, states[i])
            step_states[i] = state.step_state.callback_state
        state = state.with_callback_states(tuple(states))
        state = dataclasses.replace(state, step_state=_with_step_callback_state(state.step_state, tuple(step_states)))
        return state, tuple(states)


def as_callback(callback: AbstractCallback | Sequence[AbstractCallback] | None) -> AbstractCallback:
    """Normalise the ``callback`` argument of ``learn``: one callback, a sequence of them, or None."""
    if callback is None:
        return CallbackList(())
    if isinstance(callback, AbstractCallback):
        return callback
    if isinstance(callback, Sequence) and not isinstance(callback, (str, bytes)):
        return CallbackList(callback)
    raise TypeError(
        "callback must be an AbstractCallback, a sequence of them, or None; "
        f"got {callback!r} ({type(callback).__name__})"
    )
