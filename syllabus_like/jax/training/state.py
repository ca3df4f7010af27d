"""The state an algorithm carries: per-environment step state and the whole run's state.

These two base classes sit apart from :mod:`~syllabus_like.jax.training.algorithm`
so that callbacks (:mod:`~syllabus_like.jax.training.callback`), which read
them, and the algorithm, which runs the callbacks, depend on this module and
not on each other.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import equinox as eqx
from jaxtyping import Array, Int, PyTree

__all__ = ["AbstractAlgorithmState", "AbstractStepState"]

_Self = TypeVar("_Self")


class AbstractStepState(eqx.Module):
    """What the environment loop carries from one step to the next; every leaf has a leading ``num_envs`` axis.

    Concrete step states are equinox Modules with the default (dataclass)
    ``__init__``, so that :meth:`with_callback_state` can rebuild them.

    Attributes:
        env_state: the environments' states.
        policy_state: the policy's recurrent state (``None`` for a feed-forward policy).
        callback_state: the callbacks' step-level state.
    """

    env_state: eqx.AbstractVar[PyTree]
    policy_state: eqx.AbstractVar[PyTree]
    callback_state: eqx.AbstractVar[PyTree]

    def with_callback_state(self: _Self, callback_state: PyTree | None) -> _Self:
        """This step state with ``callback_state`` replaced; ``None`` keeps the current one (as in lerax).

        A callback without step-level state holds an
        :class:`~syllabus_like.jax.training.callback.EmptyCallbackStepState`, never ``None``.
        """
        if callback_state is None:
            return self
        return dataclasses.replace(self, callback_state=callback_state)  # type: ignore[type-var]


class AbstractAlgorithmState(eqx.Module):
    """Everything that changes during training: the run's checkpoint.

    Concrete states are equinox Modules with the default (dataclass)
    ``__init__``, so that :meth:`next` and :meth:`with_callback_states` can
    rebuild them. Save one with ``eqx.tree_serialise_leaves``.

    Attributes:
        iteration_count: iterations completed.
        step_state: the environment loop's state (:class:`AbstractStepState`).
        env: the environment module (curricula change its fields).
        policy: the policy being trained.
        opt_state: the optimizer state.
        callback_state: the callbacks' iteration-level state.
    """

    iteration_count: eqx.AbstractVar[Int[Array, ""]]
    step_state: eqx.AbstractVar[AbstractStepState]
    env: eqx.AbstractVar[PyTree]
    policy: eqx.AbstractVar[PyTree]
    opt_state: eqx.AbstractVar[PyTree]
    callback_state: eqx.AbstractVar[PyTree]

    def next(self: _Self, step_state: AbstractStepState, policy: PyTree, opt_state: PyTree) -> _Self:
        """The state after one iteration: count + 1, with the new step state, policy and optimizer state."""
        return dataclasses.replace(
            self,  # type: ignore[type-var]
            iteration_count=self.iteration_count + 1,  # type: ignore[attr-defined]
            step_state=step_state,
            policy=policy,
            opt_state=opt_state,
        )

    def with_callback_states(self: _Self, callback_state: PyTree) -> _Self:
        """This state with the callbacks' iteration-level state replaced."""
        return dataclasses.replace(self, callback_state=callback_state)  # type: ignore[type-var]
