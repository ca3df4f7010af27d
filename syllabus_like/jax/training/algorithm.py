"""The algorithm interface: explicit state, one jitted iteration, a jitted training loop.

An algorithm (:class:`AbstractAlgorithm`) is an equinox Module holding its
hyperparameters; everything that changes while training lives in an
:class:`AbstractAlgorithmState`: the iteration count, the per-environment
:class:`AbstractStepState`, the environment module, the policy, the optimizer
state and the callbacks' state. Because the environment is part of the
state, a curriculum can change an environment field between iterations
(``eqx.tree_at``) without leaving the compiled program.

:meth:`AbstractAlgorithm.learn` compiles the whole run (every iteration, the
callbacks, early stopping) into one ``lax.while_loop``; :meth:`~AbstractAlgorithm.train`
returns the final state instead of the policy, and :meth:`~AbstractAlgorithm.resume`
continues a state, so a run can be checkpointed and resumed::

    state = ppo.train(env, policy, 50_000, key=key)          # first half
    eqx.tree_serialise_leaves("run.eqx", state)
    like = ppo.reset(env, policy, key=key, callback=None)    # same structure
    state = eqx.tree_deserialise_leaves("run.eqx", like)
    state = ppo.resume(state, 100_000, key=key)              # == ppo.train(env, policy, 100_000, key=key)

Keys: the run's randomness is derived from ``key`` and the iteration count
(``fold_in``), so ``resume(state, ..., key=key)`` with the key that started
the run continues exactly as the uninterrupted run would have.

**Environments** follow :mod:`syllabus_like.jax.environment`: an equinox
Module with two pure methods, for one environment::

    reset(key) -> (env_state, observation)
    step(key, env_state, action) -> (env_state, observation, reward, terminated, truncated, info)

which the algorithm ``vmap`` s over ``num_envs`` environments (resetting each
one that finishes). Parameters a curriculum may change are *array* fields of
the module (a Python number field is a compile-time constant); parameters
derived from them are properties computed from the fields, never fields of
their own, so ``eqx.tree_at`` on one field keeps every derived value
consistent.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, Bool, Int, Key, PyTree

from syllabus_like.jax.training.callback import (
    AbstractCallback,
    IterationContext,
    TrainingContext,
    as_callback,
)
from syllabus_like.jax.training.state import AbstractAlgorithmState, AbstractStepState

__all__ = [
    "AbstractAlgorithm",
    "AbstractAlgorithmState",
    "AbstractStepState",
]

_Self = TypeVar("_Self")

# Fixed fold_in tags that turn the user's key into independent streams.
_RESET_STREAM, _ITERATION_STREAM, _START_STREAM, _END_STREAM = 0, 1, 2, 3


class AbstractAlgorithm(eqx.Module):
    """A reinforcement-learning algorithm as pure functions over an explicit state.

    Subclasses provide ``optimizer`` (an ``optax.GradientTransformation``),
    ``num_envs`` and ``num_steps`` (environment steps per environment per
    iteration), and the four methods below; ``learn`` / ``train`` /
    ``resume`` are shared.

    An implementation of :meth:`iteration` should start with
    :meth:`begin_iteration` (which lets curricula change the state) and end
    with :meth:`end_iteration` (callbacks, early stopping, bookkeeping), so
    that every algorithm honours the callback protocol the same way.
    """

    optimizer: eqx.AbstractVar[optax.GradientTransformation]
    num_envs: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]

    # ------------------------------------------------------------------ abstract
    @abc.abstractmethod
    def reset(
        self, env: PyTree, policy: PyTree, *, key: Key[Array, ""], callback: AbstractCallback | None
    ) -> AbstractAlgorithmState:
        """Build the initial state: reset the environments, the optimizer and the callbacks."""

    @abc.abstractmethod
    def per_iteration(self, state: AbstractAlgorithmState) -> AbstractAlgorithmState:
        """Algorithm bookkeeping at the end of every iteration, after the callbacks.

        For algorithms that decay exploration, sync a target network, etc.
        Called by :meth:`end_iteration`.
        """

    @abc.abstractmethod
    def iteration(
        self, state: AbstractAlgorithmState, *, key: Key[Array, ""], callback: AbstractCallback
    ) -> tuple[AbstractAlgorithmState, Bool[Array, ""]]:
        """One iteration (collect experience, update); returns the new state and whether to continue."""

    @abc.abstractmethod
    def num_iterations(self, total_timesteps: int) -> int:
        """How many iterations cover ``total_timesteps`` environment steps (rounded up)."""

    # ------------------------------------------------------------------ helpers for iteration()
    def algorithm_locals(self) -> dict[str, Any]:
        """Extras put in every context's ``locals`` (static numbers only)."""
        return {"num_envs": self.num_envs, "num_steps": self.num_steps}

    def begin_iteration(self, state: AbstractAlgorithmState, callback: AbstractCallback) -> AbstractAlgorithmState:
        """Let the callbacks (curricula) change the state before the rollout."""
        state, callback_state = callback.apply_curriculum(state, state.callback_state)
        return state.with_callback_states(callback_state)

    def end_iteration(
        self,
        state: AbstractAlgorithmState,
        *,
        step_state: AbstractStepState,
        policy: PyTree,
        opt_state: PyTree,
        training_log: dict[str, Array],
        key: Key[Array, ""],
        callback: AbstractCallback,
        rollout: PyTree = None,
        iteration_locals: dict[str, Any] | None = None,
    ) -> tuple[AbstractAlgorithmState, Bool[Array, ""]]:
        """Run ``on_iteration`` and ``continue_training``, advance the count, then :meth:`per_iteration`.

        ``rollout`` is the algorithm's typed rollout record (PPO:
        :class:`~syllabus_like.jax.training.ppo.PPORollout`), given to the
        callbacks as ``IterationContext.rollout`` (and, for code written
        before the record existed, as ``locals["rollout"]``).
        ``iteration_locals`` are added to the context's ``locals``.
        """
        extras = dict(iteration_locals or {})
        if rollout is not None:
            extras["rollout"] = rollout
        iteration_key, continue_key = jax.random.split(key)
        context = IterationContext(
            state=state.callback_state,
            step_state=step_state,
            env=state.env,
            policy=policy,
            iteration_count=state.iteration_count,
            opt_state=opt_state,
            training_log=training_log,
            locals={**self.algorithm_locals(), **extras},
            rollout=rollout,
        )
        callback_state = callback.on_iteration(context, key=iteration_key)
        context = dataclasses.replace(context, state=callback_state)
        keep_going = jnp.asarray(callback.continue_training(context, key=continue_key), dtype=bool)
        if keep_going.shape != ():
            raise ValueError(f"continue_training must return a scalar bool, got shape {keep_going.shape}")
        state = state.next(step_state, policy, opt_state).with_callback_states(callback_state)
        return self.per_iteration(state), keep_going

    # ------------------------------------------------------------------ public loop
    def learn(
        self,
        env: PyTree,
        policy: PyTree,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback | Sequence[AbstractCallback] | None = None,
    ) -> PyTree:
        """Train ``policy`` on ``env`` for ``total_timesteps`` environment steps; return the trained policy.

        ``callback`` is one callback, a sequence of them (run as a
        :class:`~syllabus_like.jax.training.callback.CallbackList`) or None. The run
        stops early after the first iteration whose ``continue_training``
        is False. Use :meth:`train` to get the whole final state.
        """
        return self.train(env, policy, total_timesteps, key=key, callback=callback).policy

    def train(
        self,
        env: PyTree,
        policy: PyTree,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback | Sequence[AbstractCallback] | None = None,
    ) -> AbstractAlgorithmState:
        """Like :meth:`learn`, but return the final algorithm state (for checkpoints and :meth:`resume`)."""
        callback = as_callback(callback)
        state = self.reset(env, policy, key=jax.random.fold_in(key, _RESET_STREAM), callback=callback)
        return self.resume(state, total_timesteps, key=key, callback=callback)

    def resume(
        self,
        state: AbstractAlgorithmState,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback | Sequence[AbstractCallback] | None = None,
    ) -> AbstractAlgorithmState:
        """Continue ``state`` until ``num_iterations(total_timesteps)`` iterations are done in all.

        ``total_timesteps`` counts from the start of the run, not from
        ``state``; a state already there is returned after the
        ``on_training_start`` / ``on_training_end`` hooks. With the ``key``
        and callbacks that started the run, the result equals an
        uninterrupted :meth:`train`.
        """
        callback = as_callback(callback)
        total_timesteps = _check_total_timesteps(total_timesteps)
        num_iterations = self.num_iterations(total_timesteps)
        return _run(
            _strongly_typed(self),
            state,
            jnp.asarray(num_iterations, jnp.int32),
            jnp.asarray(total_timesteps, jnp.int32),
            key,
            _strongly_typed(callback),
        )

    def _training_context(
        self, state: AbstractAlgorithmState, total_timesteps: Array, num_iterations: Array
    ) -> TrainingContext:
        return TrainingContext(
            state=state.callback_state,
            step_state=state.step_state,
            env=state.env,
            policy=state.policy,
            total_timesteps=total_timesteps,
            iteration_count=state.iteration_count,
            locals={**self.algorithm_locals(), "num_iterations": num_iterations},
        )


def _strongly_typed(tree: PyTree) -> PyTree:
    """``tree`` with weakly typed arrays (``jnp.asarray(0.5)``) given their dtype for good.

    A weak type is part of what jit compiles for, so a hyperparameter set to
    ``jnp.asarray(0.5)`` instead of a float32 array would recompile the run.
    """
    return jax.tree_util.tree_map(
        lambda leaf: jnp.asarray(leaf, dtype=leaf.dtype) if isinstance(leaf, jax.Array) else leaf, tree
    )


def _check_total_timesteps(total_timesteps: int) -> int:
    if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, jnp.integer)):
        raise TypeError(f"total_timesteps must be an int, got {total_timesteps!r} ({type(total_timesteps).__name__})")
    if total_timesteps < 0:
        raise ValueError(f"total_timesteps must be >= 0, got {total_timesteps}")
    if total_timesteps >= 2**31:
        raise ValueError(f"total_timesteps must be < 2**31 (int32 counters), got {total_timesteps}")
    return int(total_timesteps)


@eqx.filter_jit
def _run(
    algorithm: AbstractAlgorithm,
    state: AbstractAlgorithmState,
    num_iterations: Int[Array, ""],
    total_timesteps: Int[Array, ""],
    key: Key[Array, ""],
    callback: AbstractCallback,
) -> AbstractAlgorithmState:
    """The whole run as one compiled program: start hooks, ``lax.while_loop`` over iterations, end hooks.

    The budget (``num_iterations``) is an array, so a longer or shorter run
    reuses the compiled program.
    """
    context = algorithm._training_context(state, total_timesteps, num_iterations)
    state = state.with_callback_states(callback.on_training_start(context, key=jax.random.fold_in(key, _START_STREAM)))
    iteration_key = jax.random.fold_in(key, _ITERATION_STREAM)

    dynamic, static = eqx.partition(state, eqx.is_array)

    def keep_looping(carry: tuple[PyTree, Bool[Array, ""]]) -> Bool[Array, ""]:
        dynamic, keep_going = carry
        return keep_going & (dynamic.iteration_count < num_iterations)

    def one_iteration(carry: tuple[PyTree, Bool[Array, ""]]) -> tuple[PyTree, Bool[Array, ""]]:
        dynamic, _ = carry
        current = eqx.combine(dynamic, static)
        key = jax.random.fold_in(iteration_key, current.iteration_count)
        current, keep_going = algorithm.iteration(current, key=key, callback=callback)
        new_dynamic, new_static = eqx.partition(current, eqx.is_array)
        if jax.tree_util.tree_structure(new_dynamic) != jax.tree_util.tree_structure(dynamic) or not _same_static(
            new_static, static
        ):
            raise ValueError(
                "an iteration changed the structure or a non-array field of the algorithm state "
                "(e.g. a curriculum set a Python-number env field); fields that change during "
                "training must be JAX arrays of fixed shape and dtype.\n"
                f"before: {jax.tree_util.tree_structure(dynamic)}\nafter:  {jax.tree_util.tree_structure(new_dynamic)}"
            )
        return new_dynamic, keep_going

    dynamic, _ = lax.while_loop(keep_looping, one_iteration, (dynamic, jnp.asarray(True)))
    state = eqx.combine(dynamic, static)
    context = algorithm._training_context(state, total_timesteps, num_iterations)
    return state.with_callback_states(callback.on_training_end(context, key=jax.random.fold_in(key, _END_STREAM)))


def _same_static(a: PyTree, b: PyTree) -> bool:
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    if tree_a != tree_b:
        return False
    for x, y in zip(leaves_a, leaves_b, strict=False):
        try:
            if x is not y and not bool(x == y):
                return False
        except Exception:  # incomparable leaves: treat as different only if not identical
            return False
    return True
